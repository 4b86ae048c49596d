from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from claims import team
from claims.preferences import in_terminal_language
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
        parser.add_argument(
            "--language",
            default="",
            choices=["", *(code for code, _name in settings.LANGUAGES)],
            help="The member's language, also of their set-password e-mail (default: none yet, "
            "their browser's; the e-mail in this terminal's).",
        )

    @in_terminal_language
    def handle(self, *args, email, role, first_name, last_name, language, **options):
        try:
            invitation = team.add_member(
                None,
                email=email,
                role=role,
                first_name=first_name,
                last_name=last_name,
                language=language,
                site_url=settings.SITE_URL,
            )
        except team.TeamError as refusal:
            raise CommandError(refusal.message) from refusal

        words = {
            "name": invitation.member.get_username(),
            "role": Role(role).label,
            "days": invitation.valid_days,
        }
        if invitation.emailed:
            self.stdout.write(
                _("Added %(name)s as %(role)s; the set-password link was e-mailed.") % words
            )
            return
        self.stdout.write(
            _("Added %(name)s as %(role)s. Set-password link (works once, for %(days)s days):")
            % words
        )
        self.stdout.write(invitation.link)
