"""Long jobs: with REDIS_URL the admin's JSON import runs in an RQ worker on the real Redis (127.0.0.1:6379), and
the admin shows its progress and outcome; without it the import runs inline."""

import json
import re

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rq import Queue, SimpleWorker

from cases import jobs
from cases.models import Case
from tests.api.documents import make_document
from tests.factories import make_user

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def queue(settings):
    settings.REDIS_URL = REDIS_URL
    connection = redis.Redis.from_url(REDIS_URL)
    queue = Queue(jobs.QUEUE, connection=connection)
    queue.empty()
    yield queue
    queue.empty()


def curator_client(name="cur") -> Client:
    client = Client()
    client.force_login(make_user(name, "curator"))
    return client


def upload(documents) -> dict:
    return {"file": SimpleUploadedFile("cases.json", json.dumps(documents).encode(), content_type="application/json")}


def work(queue) -> None:
    """A real RQ worker, in this process (SimpleWorker: no fork) so that it sees this test's database."""
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_bulk_import_runs_in_the_worker_with_progress_and_outcome_in_the_admin(queue):
    client = curator_client()
    documents = [make_document(title=f"Queued case {n}") for n in range(12)]
    response = client.post("/admin/cases/case/import/", upload(documents))
    assert response.status_code == 302
    job_page = response["Location"]
    assert re.fullmatch(r"/admin/cases/case/import/[\w-]+/", job_page)
    assert Case.objects.count() == 0  # nothing yet: the request only queued it
    waiting = client.get(job_page).content.decode()
    assert "queued" in waiting and "waiting for the worker (12 case document(s))" in waiting
    assert 'http-equiv="refresh"' in waiting
    work(queue)
    done = client.get(job_page).content.decode()
    assert "finished" in done and "Imported 12 case(s) as drafts" in done
    assert 'http-equiv="refresh"' not in done
    assert Case.objects.filter(title__startswith="Queued case", status="draft").count() == 12
    job = queue.fetch_job(job_page.rstrip("/").rsplit("/", 1)[1])
    assert job.meta["progress"] == "11 of 12 case document(s) checked"


def test_a_refused_import_in_the_worker_names_every_problem_and_imports_nothing(queue):
    client = curator_client()
    bad = make_document(title="Bad one")
    bad["labs"][0]["unit"] = "pg/mL"
    job_page = client.post("/admin/cases/case/import/", upload([make_document(), bad]))["Location"]
    work(queue)
    page = client.get(job_page).content.decode()
    assert "Nothing was imported" in page
    assert "case 2 (Bad one): labs[0].unit: pg/mL is not a unit of serum total calcium" in page
    assert Case.objects.count() == 0


def test_only_the_curator_who_started_an_import_sees_its_job(queue):
    job_page = curator_client("first").post("/admin/cases/case/import/", upload([make_document()]))["Location"]
    assert curator_client("second").get(job_page).status_code == 403


def test_without_redis_the_import_runs_inline_as_before(settings):
    settings.REDIS_URL = ""
    response = curator_client().post("/admin/cases/case/import/", upload([make_document(title="Inline")]))
    assert response.status_code == 302 and response["Location"] == "/admin/cases/case/"
    assert Case.objects.filter(title="Inline").count() == 1
