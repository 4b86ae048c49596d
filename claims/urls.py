from django.urls import path

from . import views

app_name = "claims"

urlpatterns = [
    path("", views.queue, name="queue"),
]
