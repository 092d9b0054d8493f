"""Fill the database with synthetic cases and time the main read paths (run against a scratch database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench python manage.py benchmark --cases 2000
    ... python manage.py benchmark --cases 20000 --exports --keep  # only the exports: time, size and peak RSS
    ... python manage.py benchmark --cases 0 --exports              # again, on the cases a --keep run left
    ... python manage.py benchmark --cases 0 --writes               # writes: one 27-row case, a bulk import

Synthetic cases are drafts titled "benchmark case N"; they are deleted at the end unless --keep.

Each export's memory is measured in a child process of its own (`--export-child PATH`), which signs in, warms up
on a small request, then reads the whole export as a client would: it reports the peak RSS (VmHWM) before the
export and after it, so the difference is what the export itself needed.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cases.models import Case, Intervention, LabFollows, LabResult, Mechanism, Source, Tumor
from cases.rows import ROW_KINDS
from cases.services import cases_refresh_derived

MECHANISMS = ["humoral_pthrp", "local_osteolytic", "calcitriol_mediated"]
SITES = ["breast", "lung", "kidney", "prostate"]
EXPORTS = [
    "/api/v1/exports/cases.csv",
    "/api/v1/exports/labs.csv",
    "/api/v1/exports/interventions.csv",
    "/api/v1/exports/tables.zip",
    # Building a Phenopacket takes ~50 ms a case: a tenth of the synthetic cases (ages 85-89) keeps the run short.
    "/api/v1/exports/phenopackets.jsonl?age_min=85",
    "/api/v1/exports/phenopackets.zip?age_min=85",
]


def peak_rss_kib() -> int:
    """The process's peak resident set size. Linux's VmHWM starts afresh at exec; ru_maxrss would carry the
    parent's peak (the benchmark that built the data) into the child."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def write_document(source_id: int) -> dict:
    """A case document of 27 rows, the registry's typical size (issue 16): 1 tumor, 3 metastases, 2 mechanisms,
    3 findings, 4 interventions and 14 labs, 4 of them after an intervention."""
    return {
        "source_id": source_id,
        "title": "benchmark case (writes)",
        "disorder": "hypercalcemia",
        "index_event": "presentation",
        "patient": {"age_years": 67, "sex": "female"},
        "tumors": [{"site": "breast", "sequence": 1}],
        "metastases": [{"site": site, "present": True, "sequence": 1} for site in ("liver", "bone", "lung")],
        "mechanisms": [
            {"rank": 1, "code": "humoral_pthrp", "certainty": "probable"},
            {"rank": 2, "code": "local_osteolytic", "certainty": "possible"},
        ],
        "findings": [{"label": f"Finding {n}", "sequence": 2, "day": n} for n in range(3)],
        "interventions": [
            {
                "category": "supportive_care",
                "agent_text": f"treatment {n}",
                "intent": "calcium_directed",
                "status": "administered",
                "sequence": 3 + n,
                "day": n,
                "calcium_response": "partial",
            }
            for n in range(4)
        ],
        "labs": [
            {
                "analyte": "calcium_total",
                "value": 14 - n / 2,
                "unit": "mg/dL",
                "ref_low": 8.5,
                "ref_high": 10.2,
                "sequence": 10 + n,
                "day": n,
                **({"follows_intervention_index": n} if n < 4 else {}),
            }
            for n in range(14)
        ],
        "confirm": ["duplicate"],  # the same document many times: a duplicates check would ask
    }


def insert_rows_in_bulk(source: Source, document: dict) -> None:
    """The baseline of a write: the document's case and rows inserted with one bulk_create per kind, as the
    database takes them fastest through the ORM (no validation, history or derived measures)."""
    case = Case.objects.create(source=source, title=document["title"], disorder=document["disorder"])
    interventions = Intervention.objects.bulk_create(
        Intervention(case=case, **row) for row in document["interventions"]
    )
    for relation in ("tumors", "metastases", "mechanisms", "findings"):
        ROW_KINDS[relation].objects.bulk_create(ROW_KINDS[relation](case=case, **row) for row in document[relation])
    labs = LabResult.objects.bulk_create(
        LabResult(case=case, **{k: v for k, v in row.items() if k != "follows_intervention_index"})
        for row in document["labs"]
    )
    LabFollows.objects.bulk_create(
        LabFollows(case=case, lab=lab, intervention=interventions[row["follows_intervention_index"]])
        for lab, row in zip(labs, document["labs"], strict=True)
        if "follows_intervention_index" in row
    )


class Command(BaseCommand):
    help = "Time the case list, a case, the CSV exports and the analytics on synthetic data."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=1000)
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--keep", action="store_true")
        parser.add_argument("--exports", action="store_true", help="Measure only the exports (time, size, peak RSS).")
        parser.add_argument("--export-child", metavar="PATH", help=argparse.SUPPRESS)
        parser.add_argument(
            "--writes",
            type=int,
            nargs="?",
            const=200,
            default=0,
            metavar="DOCUMENTS",
            help="Measure only the writes: one 27-row case through the API, then an import of DOCUMENTS of them "
            "(default 200) against inserting the same rows in bulk without validation or history (rolled back).",
        )

    def handle(
        self,
        *args,
        cases: int,
        repeat: int,
        keep: bool,
        exports: bool,
        export_child: str | None,
        writes: int,
        **options,
    ):
        if export_child:
            return self._export_child(export_child)
        if writes:
            return self._measure_writes(writes, repeat)
        started = time.perf_counter()
        created = self._fill(cases) if cases else []  # --cases 0 --exports: measure the data a --keep run left
        self.stdout.write(
            f"created {cases} cases ({cases * 8} labs, {cases * 4} interventions) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        user, _ = User.objects.get_or_create(username="benchmark-reviewer", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name="reviewer"))
        if exports:
            self._measure_exports()
            if not keep:
                self._delete()
            return
        if not created:
            raise CommandError("Give --cases (at least 1) for the read-path timings.")
        client = Client(HTTP_HOST=(settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip("."))
        client.force_login(user)
        first = created[0].registry_id
        paths = [
            "/api/v1/cases/?page_size=100",
            f"/api/v1/cases/{first}/",
            "/api/v1/exports/cases.csv",
            "/api/v1/exports/labs.csv",
            "/api/v1/analytics/summary/",
            "/api/v1/analytics/interventions/",
            "/api/v1/analytics/trajectories/?align=first_calcium_directed",
            "/admin/cases/case/",
            f"/admin/cases/case/{created[0].pk}/change/",
            f"/admin/cases/case/{created[0].pk}/full-history/",
            "/dashboard/",
        ]
        self.stdout.write(f"{'request':62} {'median ms':>10} {'queries':>8}")
        for path in paths:
            timings = []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    t0 = time.perf_counter()
                    response = client.get(path)
                    timings.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    raise CommandError(f"{path} answered {response.status_code}")
            self.stdout.write(f"{path:62} {statistics.median(timings):10.0f} {len(queries.captured_queries):8d}")
        if not keep:
            self._delete()

    def _measure_writes(self, documents: int, repeat: int) -> None:
        """A 27-row case created through the API (median of `repeat`, with its queries), then `documents` such
        cases imported in one call (cases.document.import_cases: validated, with history) against a baseline that
        inserts exactly the same rows with bulk_create per kind (no validation, no history, no derived measures).
        Everything is rolled back."""
        from cases.document import import_cases  # the command's other modes need no API serializers

        self.stdout.write(f"writes on {connection.vendor}")
        with transaction.atomic():
            user, _ = User.objects.get_or_create(username="benchmark-curator", defaults={"is_staff": True})
            user.groups.add(Group.objects.get(name="curator"))
            source = Source.objects.create(kind="case_report", citation="benchmark", title="benchmark source")
            document = write_document(source.pk)
            rows = sum(len(document[relation]) for relation in ROW_KINDS)
            client = Client(HTTP_HOST=(settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip("."))
            client.force_login(user)
            timings = []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    t0 = time.perf_counter()
                    response = client.post("/api/v1/cases/", document, content_type="application/json")
                    timings.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 201:
                    raise CommandError(f"create answered {response.status_code}: {response.content[:300]!r}")
            self.stdout.write(
                f"create one {rows}-row case (API POST): {statistics.median(timings):.0f} ms, "
                f"{len(queries.captured_queries)} queries"
            )
            t0 = time.perf_counter()
            import_cases([document] * documents, user=user)
            imported = time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(documents):
                insert_rows_in_bulk(source, document)
            baseline = time.perf_counter() - t0
            total = rows * documents
            self.stdout.write(
                f"import {documents} cases ({total} rows): {documents / imported:.1f} cases/s = "
                f"{total / imported:.0f} rows/s; bulk_create of the same rows: {total / baseline:.0f} rows/s; "
                f"ratio {imported / baseline:.1f}x"
            )
            transaction.set_rollback(True)

    def _delete(self) -> None:
        Case.objects.filter(title__startswith="benchmark case").delete()
        Source.objects.filter(title="benchmark source").delete()

    def _measure_exports(self) -> None:
        self.stdout.write(f"{'export (own process)':40} {'s':>7} {'MB out':>8} {'RSS before':>11} {'peak RSS':>9}")
        for path in EXPORTS:
            child = subprocess.run(  # noqa: S603 (our own command)
                [sys.executable, str(settings.BASE_DIR / "manage.py"), "benchmark", "--export-child", path],
                capture_output=True,
                text=True,
                check=True,
            )
            m = json.loads(child.stdout.strip().splitlines()[-1])
            self.stdout.write(
                f"{path:40} {m['seconds']:7.1f} {m['bytes'] / 1e6:8.1f} {m['rss_before_mb']:9.0f}MB "
                f"{m['peak_rss_mb']:7.0f}MB"
            )

    def _export_child(self, path: str) -> None:
        user = User.objects.get(username="benchmark-reviewer")
        client = Client(HTTP_HOST=(settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip("."))
        client.force_login(user)
        client.get("/api/v1/exports/cases.csv?disorder=hypocalcemia")  # warm up: imports, permissions
        before = peak_rss_kib()
        started = time.perf_counter()
        response = client.get(path)
        if response.status_code != 200:
            raise CommandError(f"{path} answered {response.status_code}")
        chunks = response.streaming_content if response.streaming else [response.content]
        size = sum(len(chunk) for chunk in chunks)
        seconds = time.perf_counter() - started
        peak = peak_rss_kib()
        self.stdout.write(
            json.dumps(
                {
                    "path": path,
                    "seconds": seconds,
                    "bytes": size,
                    "streamed": response.streaming,
                    "rss_before_mb": before / 1024,
                    "peak_rss_mb": peak / 1024,
                }
            )
        )

    @transaction.atomic
    def _fill(self, n: int) -> list[Case]:
        source = Source.objects.create(kind="case_report", citation="benchmark", title="benchmark source")
        cases = Case.objects.bulk_create(
            Case(
                source=source,
                title=f"benchmark case {i}",
                disorder="hypercalcemia",
                age_years=40 + i % 50,
                sex="female" if i % 2 else "male",
                index_event="presentation",
            )
            for i in range(n)
        )
        Tumor.objects.bulk_create(
            Tumor(case=c, site=SITES[i % 4], icdo3_topography="C50.9") for i, c in enumerate(cases)
        )
        Mechanism.objects.bulk_create(
            Mechanism(case=c, code=MECHANISMS[i % 3], certainty="probable") for i, c in enumerate(cases)
        )
        interventions = Intervention.objects.bulk_create(
            Intervention(
                case=c,
                sequence=2 * k + 1,
                day=3 * k,
                category="drug",
                agent_text=f"drug {k}",
                intent="calcium_directed" if k == 0 else "cancer_directed",
                calcium_response="partial",
            )
            for c in cases
            for k in range(4)
        )
        LabResult.objects.bulk_create(
            LabResult(
                case=c,
                sequence=k + 1,
                day=k,
                analyte="calcium_total",
                unit="mg/dL",
                value=Decimal(14) - Decimal(k) / 2 + Decimal(i % 7) / 10,
                ref_low=Decimal("8.5"),
                ref_high=Decimal("10.2"),
            )
            for i, c in enumerate(cases)
            for k in range(8)
        )
        if len(interventions) != 4 * n:
            raise CommandError("bulk insert lost interventions")
        cases_refresh_derived(Case.objects.filter(title__startswith="benchmark case"))
        return cases
