from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Case registry"

    def ready(self) -> None:
        # duplicates and unit_slips register their warning checks with cases.warnings
        from . import analytes, duplicates, stored_documents, unit_slips  # noqa: F401

        analytes.install()  # measures reads its analytes from the analyte table
        stored_documents.install()  # writes to the tables a case document shows make the stored ones old
        post_migrate.connect(analytes.reseed_emptied_table, sender=self, dispatch_uid="analytes-reseed")
