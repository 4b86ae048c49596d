from django.urls import path

from . import views

app_name = "claims"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("claims/<uuid:claim_id>/", views.claim_detail, name="detail"),
    path("claims/<uuid:claim_id>/approve/", views.approve, name="approve"),
    path("claims/<uuid:claim_id>/reject/", views.reject, name="reject"),
]
