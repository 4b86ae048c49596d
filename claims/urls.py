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
]
