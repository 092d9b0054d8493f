from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Case registry"

    def ready(self) -> None:
        from . import unit_slips  # noqa: F401  (registers its warning check with cases.warnings)
