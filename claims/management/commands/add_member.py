from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from claims import team
from claims.roles import Role


class Command(BaseCommand):
    help = (
        "Add a team member with a role, e.g. the first admin, and print their one-time "
        "set-password link (or e-mail it when EMAIL_URL is set). The e-mail is the username."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The member's e-mail address, also their username.")
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args, email, role, first_name, last_name, **options):
        try:
            invitation = team.add_member(
                None,
                email=email,
                role=role,
                first_name=first_name,
                last_name=last_name,
                site_url=settings.SITE_URL,
            )
        except team.TeamError as refusal:
            raise CommandError(refusal.message) from refusal

        name = invitation.member.get_username()
        if invitation.emailed:
            self.stdout.write(f"Added {name} as {role}; the set-password link was e-mailed.")
            return
        self.stdout.write(
            f"Added {name} as {role}. Set-password link (works once, for "
            f"{invitation.valid_days} days):"
        )
        self.stdout.write(invitation.link)
