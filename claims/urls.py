from django.urls import path

from . import views

app_name = "claims"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("claims/<uuid:claim_id>/", views.claim_detail, name="detail"),
    path("claims/<uuid:claim_id>/approve/", views.approve, name="approve"),
    path("claims/<uuid:claim_id>/reject/", views.reject, name="reject"),
    path("sync/", views.freshness, name="freshness"),
    path("sync/refresh/", views.start_refresh, name="refresh"),
    path("reasons/", views.canned_reasons, name="canned_reasons"),
    path("reasons/<int:reason_id>/delete/", views.delete_canned_reason, name="delete_reason"),
    path("bulk/", views.bulk_runs, name="bulk_runs"),
    path("bulk/start/", views.bulk_start, name="bulk_start"),
    path("bulk/<uuid:run_id>/", views.bulk_run, name="bulk_run"),
]
