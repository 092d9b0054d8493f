"""Django's loaddata, then the derived measures of every case it touched stored (cases.services).

loaddata saves rows raw (no model save logic), so without this the stored derived columns of loaded cases would
stay empty and the filters and exports that read them would miss those cases. README: `migrate && loaddata agents
source_cases` is a complete load.
"""

from __future__ import annotations

from django.core.management.commands import loaddata
from django.db.models.signals import post_save

from cases.models import Case
from cases.rows import ROW_MODELS
from cases.services import cases_refresh_derived


class Command(loaddata.Command):
    help = loaddata.Command.help + " Then stores the derived measures of the cases loaded."

    def handle(self, *fixture_labels, **options):
        touched: set[int] = set()

        def note(sender, instance, raw=False, **kwargs):
            if raw:
                touched.add(instance.pk if sender is Case else instance.case_id)

        senders = (Case, *ROW_MODELS)
        for sender in senders:
            post_save.connect(note, sender=sender, weak=False, dispatch_uid=f"loaddata-derived-{sender.__name__}")
        try:
            super().handle(*fixture_labels, **options)
        finally:
            for sender in senders:
                post_save.disconnect(sender=sender, dispatch_uid=f"loaddata-derived-{sender.__name__}")
        if touched:
            cases = Case.objects.using(options.get("database") or "default").filter(pk__in=touched)
            count = cases_refresh_derived(cases)
            if options.get("verbosity", 1) >= 1:
                self.stdout.write(f"Stored the derived measures of {count} case(s).")
