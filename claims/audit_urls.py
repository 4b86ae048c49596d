from django.urls import path

from . import audit_views

app_name = "audit"

urlpatterns = [
    path("", audit_views.events, name="events"),
    path("export.csv", audit_views.export, name="export"),
]
