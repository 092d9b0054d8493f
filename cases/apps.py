from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Case registry"

    def ready(self) -> None:
        from . import duplicates  # noqa: F401  (registers the "duplicate" warning check)
