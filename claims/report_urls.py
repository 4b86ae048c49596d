from django.urls import path

from . import report_views

app_name = "reports"

urlpatterns = [
    path("", report_views.index, name="index"),
    path("<slug:table>.csv", report_views.export, name="export"),
]
