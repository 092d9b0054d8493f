from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Case registry"

    def ready(self) -> None:
        from . import duplicates, unit_slips  # noqa: F401  (each registers its warning check with cases.warnings)
