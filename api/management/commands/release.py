"""Cut a frozen release of the published cases:

    python manage.py release 2026.1 --user reviewer-name [--notes "..."]

The user must be a reviewer (may publish). Prints the archive's path, size and SHA-256.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.releases import cut_release
from cases.releases import release_path


class Command(BaseCommand):
    help = "Cut a frozen, citable release of the published cases."

    def add_arguments(self, parser):
        parser.add_argument("version", help="The release's version, e.g. 2026.1 (unique).")
        parser.add_argument("--user", required=True, help="Username of the reviewer cutting the release.")
        parser.add_argument("--notes", default="")

    def handle(self, *args, version: str, user: str, notes: str, **options):
        reviewer = get_user_model().objects.filter(username=user).first()
        if reviewer is None or not reviewer.has_perm("cases.publish_case"):
            raise CommandError(f"{user!r} is not a reviewer: only reviewers cut releases.")
        try:
            release = cut_release(user=reviewer, version=version, notes=notes)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"Release {release.version}: {release.case_count} published cases, {release_path(release)} "
            f"({release.size_bytes} bytes, SHA-256 {release.sha256})"
        )
