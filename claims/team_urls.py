from django.urls import path

from . import team_views

app_name = "team"

urlpatterns = [
    path("", team_views.members, name="members"),
    path("add/", team_views.add_member, name="add"),
    path("<int:member_id>/role/", team_views.change_role, name="role"),
    path("<int:member_id>/deactivate/", team_views.deactivate, name="deactivate"),
    path("<int:member_id>/reactivate/", team_views.reactivate, name="reactivate"),
    path(
        "welcome/<uidb64>/<token>/",
        team_views.SetPasswordView.as_view(),
        name="set_password",
    ),
]
