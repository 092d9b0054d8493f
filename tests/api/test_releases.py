"""Frozen releases: cut by a reviewer (manage.py release, the admin), immutable, listed and downloadable, and
deterministic: the same registry state, version and date give the same bytes."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pandas as pd
import phenopackets
import pytest
import redis
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from google.protobuf import json_format
from rest_framework.test import APIClient
from rq import Queue, SimpleWorker

from api.releases import cut_release
from cases import jobs, tables
from cases.models import Case, Release
from cases.releases import release_path
from cases.services import cases_refresh_derived
from tests.api.documents import client_for
from tests.factories import make_user

pytestmark = pytest.mark.django_db

RELEASES = "/api/v1/releases/"


@pytest.fixture(autouse=True)
def release_dir(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REGISTRY_RELEASE_DIR = tmp_path / "releases"
    cache.clear()
    return settings.REGISTRY_RELEASE_DIR


@pytest.fixture
def published():
    """The source cases, 1 and 3 published, 2 a draft."""
    call_command("loaddata", "agents", "source_cases", verbosity=0)
    cases_refresh_derived(Case.objects.all())
    Case.objects.update(status="draft")
    Case.objects.filter(pk__in=[1, 3]).update(status="published")


@pytest.fixture
def reviewer():
    return make_user("rita", "reviewer")


def archive_of(release: Release) -> zipfile.ZipFile:
    return zipfile.ZipFile(release_path(release))


def test_a_release_holds_the_published_cases_as_tables_documents_phenopackets_and_bundles(published, reviewer):
    release = cut_release(user=reviewer, version="2026.1")
    assert (release.case_count, release.cut_by, release.released_on) == (2, reviewer, release.cut_at.date())
    archive = archive_of(release)
    names = archive.namelist()
    assert names == [
        *("CITATION.cff", "codebook.csv", "codebook.json"),
        *(f"tables/{name}.csv" for name in tables.TABLES),
        *(f"{folder}/CCR-00000{n}.json" for folder in ("cases", "phenopackets", "fhir") for n in (1, 3)),
        "MANIFEST.sha256",
    ]
    codebook = pd.read_csv(archive.open("codebook.csv"))
    for name in tables.TABLES:
        entries = codebook[codebook["table"] == name]
        df = pd.read_csv(
            archive.open(f"tables/{name}.csv"), dtype=dict(zip(entries["column"], entries["pandas_dtype"], strict=True))
        )
        assert set(df["case_id"]) <= {"CCR-000001", "CCR-000003"}, name
    assert list(pd.read_csv(archive.open("tables/cases.csv"))["case_id"]) == ["CCR-000001", "CCR-000003"]
    document = json.loads(archive.read("cases/CCR-000003.json"))
    assert (document["id"], document["status"]) == ("CCR-000003", "published")
    json_format.Parse(archive.read("phenopackets/CCR-000001.json"), phenopackets.Phenopacket())
    assert json.loads(archive.read("fhir/CCR-000001.json"))["resourceType"] == "Bundle"

    citation = archive.read("CITATION.cff").decode()
    assert 'version: "2026.1"' in citation
    assert f'date-released: "{release.released_on.isoformat()}"' in citation
    assert "cff-version: 1.2.0" in citation

    manifest = dict(reversed(line.split("  ")) for line in archive.read("MANIFEST.sha256").decode().splitlines())
    assert list(manifest) == names[:-1]
    for name, digest in manifest.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
    assert hashlib.sha256(release_path(release).read_bytes()).hexdigest() == release.sha256
    assert release_path(release).stat().st_size == release.size_bytes
    for info in archive.infolist():  # the release's date on every entry, Unix permissions
        assert info.date_time == (*release.released_on.timetuple()[:3], 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644


def test_two_releases_of_the_same_state_are_byte_identical(published, reviewer, release_dir, settings):
    first = cut_release(user=reviewer, version="1.0")
    first_bytes = release_path(first).read_bytes()
    # The same version cut again from the same state (into another directory, as a second registry would):
    Release.objects.filter(pk=first.pk).delete()  # the model refuses deletion; the query set does not ask it
    settings.REGISTRY_RELEASE_DIR = release_dir.parent / "second"
    second = cut_release(user=reviewer, version="1.0")
    assert second.pk != first.pk
    assert release_path(second).read_bytes() == first_bytes
    assert second.sha256 == first.sha256

    # A change to a published case is a different state, and a different archive.
    Case.objects.filter(pk=2).update(status="published")
    settings.REGISTRY_RELEASE_DIR = release_dir.parent / "third"
    third = cut_release(user=reviewer, version="1.0-b")
    assert third.case_count == 3 and third.sha256 != first.sha256


def test_a_release_is_immutable(published, reviewer):
    release = cut_release(user=reviewer, version="1.0")
    release.notes = "changed"
    with pytest.raises(ValidationError, match="immutable"):
        release.save()
    with pytest.raises(ValidationError, match="immutable"):
        release.delete()
    with pytest.raises(ValidationError, match="already exists"):
        cut_release(user=reviewer, version="1.0")
    with pytest.raises(ValidationError, match="letters, digits"):
        cut_release(user=reviewer, version="../x")
    assert Release.objects.count() == 1


def test_releases_are_listed_and_downloadable(published, reviewer):
    release = cut_release(user=reviewer, version="2026.1", notes="For the 2026 review")
    analyst = client_for("analyst")
    listed = analyst.get(RELEASES).json()  # a plain list: releases are few
    assert [(r["version"], r["case_count"], r["sha256"], r["cut_by"]) for r in listed] == [
        ("2026.1", 2, release.sha256, "rita")
    ]
    assert listed[0]["download"].endswith("/api/v1/releases/2026.1/download/")
    response = analyst.get(f"{RELEASES}2026.1/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert b"".join(response.streaming_content) == release_path(release).read_bytes()
    assert analyst.get(f"{RELEASES}9.9/").status_code == 404
    assert APIClient().get(RELEASES).status_code == 401


def test_manage_py_release_is_for_reviewers(published, reviewer, capsys):
    make_user("cora", "curator")
    with pytest.raises(CommandError, match="not a reviewer"):
        call_command("release", "1.0", user="cora")
    call_command("release", "1.0", user="rita")
    assert "Release 1.0: 2 published cases" in capsys.readouterr().out
    assert Release.objects.get().cut_by.username == "rita"


def test_a_reviewer_cuts_a_release_in_the_admin(published, reviewer):
    client = Client()
    client.force_login(reviewer)
    assert client.get("/admin/cases/release/add/").status_code == 200
    response = client.post("/admin/cases/release/add/", {"version": "2026.2", "notes": "admin cut"})
    assert response.status_code == 302, response.content.decode()[:2000]
    release = Release.objects.get()
    assert (release.version, release.notes, release.case_count) == ("2026.2", "admin cut", 2)
    assert release_path(release).exists()
    page = client.get(f"/admin/cases/release/{release.pk}/change/").content.decode()
    assert release.sha256 in page
    # A version that exists is a form error, and nothing is cut.
    response = client.post("/admin/cases/release/add/", {"version": "2026.2"})
    assert response.status_code == 200 and "already exists" in response.content.decode()
    assert Release.objects.count() == 1


def test_with_the_task_queue_the_admin_queues_the_cut_and_the_worker_writes_the_release(published, reviewer, settings):
    """REDIS_URL set: the request only queues the cut (a taken version is refused at once); a real RQ worker,
    in this process so that it sees the test's database, writes the release."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/13"
    queue = Queue(jobs.QUEUE, connection=redis.Redis.from_url(settings.REDIS_URL))
    queue.empty()
    client = Client()
    client.force_login(reviewer)
    response = client.post("/admin/cases/release/add/", {"version": "2026.3", "notes": "queued"}, follow=True)
    assert "being cut by the task worker" in response.content.decode()
    assert Release.objects.count() == 0 and len(queue) == 1  # nothing written yet
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    release = Release.objects.get()
    assert (release.version, release.notes, release.case_count, release.cut_by) == ("2026.3", "queued", 2, reviewer)
    assert release_path(release).exists()
    response = client.post("/admin/cases/release/add/", {"version": "2026.3"})
    assert response.status_code == 200 and "already exists" in response.content.decode()
    assert len(queue) == 0
    queue.empty()


def test_curators_and_analysts_cannot_cut_a_release(published):
    for role in ("curator", "analyst"):
        client = Client()
        client.force_login(make_user(role + "-user", role))
        assert client.post("/admin/cases/release/add/", {"version": "1.0"}).status_code == 403
    assert Release.objects.count() == 0
