from django.urls import path

from . import preference_views

app_name = "preferences"

urlpatterns = [
    path("", preference_views.edit, name="edit"),
    path("language/", preference_views.switch_language, name="language"),
]
