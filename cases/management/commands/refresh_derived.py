from django.core.management.base import BaseCommand

from cases.models import Case
from cases.services import cases_refresh_derived


class Command(BaseCommand):
    help = "Recompute every case's cached derived measures (peak/nadir calcium, CTCAE grades, normalisation)."

    def handle(self, *args, **options) -> None:
        count = cases_refresh_derived(Case.objects.all())
        self.stdout.write(f"Refreshed {count} cases.")
