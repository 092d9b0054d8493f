"""First-run set-up for a local registry: reference data, the source cases, and an admin login.

Idempotent: the source cases are loaded only into a registry that holds no case yet, and an existing
admin keeps its password unless REGISTRY_ADMIN_PASSWORD is given.
"""

import os
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from cases.initial_history import record_initial_history
from cases.models import Case, Source
from cases.services import cases_refresh_derived


class Command(BaseCommand):
    help = "Load the agent list and the source cases into an empty registry and create a local admin login."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            if Case.objects.exists() or Source.objects.exists():
                self.stdout.write("Registry already holds data: source cases not reloaded.")
            else:
                call_command("loaddata", "agents", "source_cases", verbosity=0)
                record_initial_history()
                self.stdout.write(f"Loaded {Case.objects.count()} source cases.")
            call_command("load_hpo", "--if-empty", stdout=self.stdout)
            # Derived measures are cached per case; recompute them in case a new version computes more.
            cases_refresh_derived(Case.objects.all())
        self._admin_login()

    def _admin_login(self) -> None:
        env = settings.REGISTRY_ADMIN
        username = env["username"]
        password_file = Path(settings.VAR_DIR) / f"admin-password.{database_label()}"
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        password = env["password"]
        if user is None:
            password = password or secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, email="", password=password)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        if not env["password"] and password:
            password_file.parent.mkdir(exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        shown = env["password"] and "(from REGISTRY_ADMIN_PASSWORD)"
        if not shown:
            kept = password_file.read_text().strip() if password_file.exists() else ""
            # Only a password this database accepts is printed.
            shown = kept if kept and user.check_password(kept) else "(unchanged; set REGISTRY_ADMIN_PASSWORD)"
        address = os.environ.get("REGISTRY_ADDRESS") or "127.0.0.1:8000"  # where bin/serve serves
        self.stdout.write(f"Admin login at http://{address}/admin/  user: {username}  password: {shown}")


def database_label() -> str:
    """Names the database in file names under var/, so that each database keeps its own admin password:
    "sqlite-registry", "postgresql-127.0.0.1-5432-registry"."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        parts = ["sqlite", Path(str(db["NAME"])).stem]
    else:
        parts = [connection.vendor, db.get("HOST") or "local", str(db.get("PORT") or 5432), db["NAME"]]
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))
