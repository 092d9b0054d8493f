"""Fill the database with synthetic cases and measure issue 16's table (run against a scratch database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench ALLOWED_HOSTS=localhost,127.0.0.1 \
        python manage.py benchmark --cases 100000 --keep      # every row of the table, each with its baseline
    ... python manage.py benchmark --cases 20000 --exports --keep  # only the exports: time, size and peak RSS
    ... python manage.py benchmark --cases 0 --exports              # again, on the cases a --keep run left
    ... python manage.py benchmark --cases 0 --writes               # writes: one 27-row case, a bulk import
    ... python manage.py benchmark --cases 0 --pages                # only the dashboard and the admin pages
    ... python manage.py benchmark --cases 0 --reads                # only the read rows (list, one case, gunicorn)

Synthetic cases are drafts titled "benchmark case N" (cases.benchmarking: 27 rows each, built with COPY); they are
deleted at the end unless --keep (at 100,000 cases drop the scratch database instead: the delete takes long).

The table (PostgreSQL only): each request is timed `--repeat` times alternating with its baseline (median), so a
change in the machine's load hits both alike; the baselines are hand-written SQL on the same tables
(cases.benchmarking says what each returns and leaves out). Reads go through the in-process test client (no HTTP)
and, unless --no-gunicorn, through gunicorn (2 sync workers) for the p50 and throughput rows.

Each export's memory is measured in a child process of its own (`--export-child PATH`), which signs in, warms up
on a small request, then reads the whole export as a client would: it reports the peak RSS (VmHWM) before the
export and after it, so the difference is what the export itself needed.
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.throttling import UserRateThrottle

from cases import benchmarking
from cases.models import Case, Episode, Intervention, LabFollows, LabResult, Source, registry_id
from cases.rows import ROW_KINDS

# The table measures speed, not the throttles' limits: the throughput row alone sends ~2,000 requests in 10 s, and a
# second run within the hour would be refused (429) at the usual 5,000 an hour. The throttles still count every
# request; the user's history of requests (DRF keeps every one of the last hour, read and written whole by each
# request: 4.0 -> 7.1 ms for one case with ~5,000 in it, file cache) is emptied before the rows and after the
# throughput row, as for a user who has sent a few requests.
USER_RATE = "10000000/hour"


def forget_requests(user: User) -> None:
    """Empty the user's throttle history (DRF's UserRateThrottle key for the "user" scope)."""
    cache.delete(UserRateThrottle.cache_format % {"scope": "user", "ident": user.pk})


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
    case = Case(source=source, title=document["title"], disorder=document["disorder"])
    case._episodes_written = True  # the one episode below, in bulk like the rest
    case.save()
    (episode,) = Episode.objects.bulk_create([Episode(case=case, disorder=case.disorder)])
    interventions = Intervention.objects.bulk_create(
        Intervention(case=case, **row) for row in document["interventions"]
    )
    for relation in ("tumors", "metastases", "mechanisms", "findings"):
        ROW_KINDS[relation]._default_manager.bulk_create(
            ROW_KINDS[relation](case=case, **row, **({"episode": episode} if relation == "mechanisms" else {}))
            for row in document[relation]
        )
    labs = LabResult.objects.bulk_create(
        LabResult(case=case, **{k: v for k, v in row.items() if k != "follows_intervention_index"})
        for row in document["labs"]
    )
    LabFollows.objects.bulk_create(
        LabFollows(case=case, lab=lab, intervention=interventions[row["follows_intervention_index"]])
        for lab, row in zip(labs, document["labs"], strict=True)
        if "follows_intervention_index" in row
    )


def time_create(repeat: int) -> tuple[User, Source, dict, float, int]:
    """A curator, a source and a 27-row document of it, created `repeat` times through the API (call inside a
    transaction that is rolled back): the curator, source and document, the median milliseconds and the queries of
    the last creation."""
    user, _ = User.objects.get_or_create(username="benchmark-curator", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="curator"))
    source = Source.objects.create(kind="case_report", citation="benchmark", title="benchmark source")
    document = write_document(source.pk)
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
    return user, source, document, statistics.median(timings), len(queries.captured_queries)


class Command(BaseCommand):
    help = "Time the case list, a case, the CSV exports and the analytics on synthetic data."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=1000)
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--keep", action="store_true")
        parser.add_argument(
            "--exports",
            action="store_true",
            help="Measure only the exports (time, size, peak RSS; COPY's where the export has a baseline).",
        )
        parser.add_argument(
            "--export", action="append", metavar="PATH", help="With --exports: only this export (repeatable)."
        )
        parser.add_argument("--export-child", metavar="PATH", help=argparse.SUPPRESS)
        parser.add_argument("--copy-child", metavar="PATH", help=argparse.SUPPRESS)
        parser.add_argument(
            "--imports", type=int, default=100, help="Cases in the table's bulk-import row (default 100)."
        )
        parser.add_argument(
            "--pages",
            action="store_true",
            help="Measure only the table's rows of the dashboard and the admin's changelist and case page.",
        )
        parser.add_argument(
            "--no-gunicorn",
            dest="gunicorn",
            action="store_false",
            help="Skip the rows served by gunicorn (p50 over HTTP, throughput with 4 connections).",
        )
        parser.add_argument(
            "--reads",
            action="store_true",
            help="Only the table's read rows: the case list, its deep pages, one case, and over gunicorn (unless "
            "--no-gunicorn) their p50 and throughput.",
        )
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
        export: list[str] | None,
        export_child: str | None,
        copy_child: str | None,
        writes: int,
        imports: int,
        gunicorn: bool,
        pages: bool,
        reads: bool = False,
        **options,
    ):
        settings.REGISTRY_API_RATES = {**settings.REGISTRY_API_RATES, "user": USER_RATE}  # this process (USER_RATE)
        if export_child:
            return self._export_child(export_child)
        if writes:
            return self._measure_writes(writes, repeat)
        if copy_child:
            return self._copy_child(copy_child)
        load = os.getloadavg()
        self.stdout.write(
            f"benchmark on {connection.vendor}, {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} "
            f"{load[2]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        started = time.perf_counter()
        if cases:  # --cases 0: measure the data a --keep run left
            self._fill(cases)
            benchmarking.analyze()  # now outside the fill's transaction: VACUUM too
        self.stdout.write(
            f"created {cases} cases ({cases * benchmarking.ROWS_PER_CASE} rows: {cases * 16} labs, "
            f"{cases * 4} interventions, {cases * 3} findings) in {time.perf_counter() - started:.1f} s"
        )
        user, _ = User.objects.get_or_create(username="benchmark-reviewer", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name="reviewer"))
        forget_requests(user)
        if exports:
            self._measure_exports(export or EXPORTS)
        else:
            if connection.vendor != "postgresql":
                raise CommandError("The table's baselines are PostgreSQL SQL: run it on PostgreSQL.")
            self._table(user, repeat, imports, gunicorn, pages_only=pages, reads=reads)
        load = os.getloadavg()
        self.stdout.write(f"load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
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
            user, source, document, milliseconds, queries = time_create(repeat)
            rows = sum(len(document.get(relation, [])) for relation in ROW_KINDS)
            self.stdout.write(f"create one {rows}-row case (API POST): {milliseconds:.0f} ms, {queries} queries")
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

    def _measure_exports(self, paths: list[str]) -> None:
        self.stdout.write(f"{'export (own process)':40} {'s':>7} {'MB out':>8} {'RSS before':>11} {'peak RSS':>9}")
        for path in paths:
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
            if path in benchmarking.EXPORT_COPIES:  # its baseline, measured right after it
                b = self._child("--copy-child", path)
                self.stdout.write(
                    f"{'  COPY baseline':40} {b['seconds']:7.1f} {b['bytes'] / 1e6:8.1f} {b['rss_before_mb']:9.0f}MB "
                    f"{b['peak_rss_mb']:7.0f}MB  ratio {m['seconds'] / b['seconds']:.1f}x"
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
    def _fill(self, n: int) -> None:
        source = Source.objects.create(kind="case_report", citation="benchmark", title="benchmark source")
        benchmarking.fill(n, source)

    # --- the table: each row against its baseline, interleaved -------------------------------------

    def _row(self, name: str, registry: str, baseline: str = "—", ratio: str = "—", goal: str = "") -> None:
        self.stdout.write(f"| {name} | {registry} | {baseline} | {ratio} | {goal} |")
        self.stdout.flush()

    def _interleaved(self, registry, baseline, repeat: int) -> tuple[list[float], list[float], object, object]:
        """Each call `repeat` times, alternating (so that a change in the machine's load hits both alike)."""
        times_r, times_b, out_r, out_b = [], [], None, None
        for _ in range(repeat):
            t0 = time.perf_counter()
            out_r = registry()
            times_r.append((time.perf_counter() - t0) * 1000)
            if baseline is not None:
                t0 = time.perf_counter()
                out_b = baseline()
                times_b.append((time.perf_counter() - t0) * 1000)
        return times_r, times_b, out_r, out_b

    def _table(
        self, user, repeat: int, imports: int, gunicorn: bool, pages_only: bool = False, reads: bool = False
    ) -> None:
        client = Client(HTTP_HOST=(settings.ALLOWED_HOSTS or ["localhost"])[0].lstrip("."))
        client.force_login(user)
        raw = connection.connection  # psycopg's own connection: the baselines skip Django entirely
        n_cases = Case.objects.count()
        last_pk = Case.objects.order_by("-pk").values_list("pk", flat=True).first()
        first_pk = Case.objects.order_by("pk").values_list("pk", flat=True).first()

        def sql(statement: str, params=()):
            def run():
                with raw.cursor() as cursor:
                    cursor.execute(statement, params)
                    rows = cursor.fetchall()
                return b"".join(str(v).encode() for row in rows for v in row)  # served as bytes

            return run

        def get(path: str):
            def run():
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(path)
                if response.status_code != 200:
                    raise CommandError(f"{path} answered {response.status_code}: {response.content[:300]!r}")
                body = b"".join(response.streaming_content) if response.streaming else response.content
                run.queries = len(queries.captured_queries)
                return body

            return run

        def med(values):
            return statistics.median(values)

        self.stdout.write(
            f"\n{n_cases} cases; in-process Django test client (no HTTP) unless a row says gunicorn; median of "
            f"{repeat}, registry and baseline alternating; q = queries per request\n"
        )
        self.stdout.write("| request | registry | baseline | ratio | goal |\n|---|---|---|---|---|")
        if pages_only:
            return self._page_rows(get, sql, med, first_pk, repeat)
        pages = {}
        for size in (50, 100):
            registry = get(f"/api/v1/cases/?page_size={size}")
            tr, tb, body_r, body_b = self._interleaved(registry, sql(benchmarking.LIST_PAGE, (size, 0)), repeat)
            pages[size] = (med(tr), med(tb))
            self._row(
                f"case list, {size} per page (in-process)",
                f"{med(tr):.0f} ms, {len(body_r) / 1000:.0f} KB, {registry.queries} q",
                f"{med(tb):.0f} ms, {len(body_b) / 1000:.0f} KB",
                f"{med(tr) / med(tb):.1f}×",
                "≤ 2×",
            )
        # Deep pages: a numbered page near the end and a cursor page near the end, each against page 1.
        size = 50
        last_page = max(1, math.ceil(n_cases / size) - 1)
        tr_deep, tb_deep, _, _ = self._interleaved(
            get(f"/api/v1/cases/?page_size={size}&page={last_page}"),
            sql(benchmarking.LIST_PAGE, (size, (last_page - 1) * size)),
            repeat,
        )
        tr_cursor, tb_cursor, _, _ = self._interleaved(
            get(f"/api/v1/cases/?page_size={size}&cursor={last_pk - 2 * size}"),
            sql(benchmarking.LIST_AFTER, (last_pk - 2 * size, size)),
            repeat,
        )
        p1r, p1b = pages[50]
        self._row(
            "case list, a page near the end vs page 1 (50 per page)",
            f"page={last_page}: {med(tr_deep) / p1r:.2f}× page 1; cursor=: {med(tr_cursor) / p1r:.2f}×",
            f"OFFSET: {med(tb_deep) / p1b:.2f}×; WHERE id >: {med(tb_cursor) / p1b:.2f}×",
            f"cursor {med(tr_cursor):.0f} ms vs {med(tb_cursor):.0f} ms",
            "≤ 1.2× with `cursor=`",
        )
        registry = get(f"/api/v1/cases/{registry_id(first_pk)}/")
        tr, tb, body_r, body_b = self._interleaved(registry, sql(benchmarking.ONE_CASE, (first_pk,)), repeat)
        self._row(
            "one case (in-process)",
            f"{med(tr):.1f} ms, {len(body_r) / 1000:.1f} KB, {registry.queries} q",
            f"{med(tb):.1f} ms, {len(body_b) / 1000:.1f} KB",
            f"{med(tr) / med(tb):.1f}×",
            "≤ 2×",
        )
        if gunicorn:
            self._gunicorn_rows(client, raw, first_pk, repeat)
        if reads:
            return
        analytics_rows = [
            ("`analytics/summary/`", "/api/v1/analytics/summary/", [benchmarking.SUMMARY], "≤ 2×, < 1 s"),
            ("`analytics/interventions/`", "/api/v1/analytics/interventions/", benchmarking.INTERVENTIONS,
             "≤ 3×, < 1 s"),
        ]  # fmt: skip
        for name, path, statements, goal in analytics_rows:
            registry = get(path)

            def baseline(statements=statements):
                return b"".join(sql(statement)() for statement in statements)

            tr, tb, _, _ = self._interleaved(registry, baseline, repeat)
            self._row(
                name,
                f"{med(tr):.0f} ms, {registry.queries} q",
                f"{med(tb):.0f} ms (hand SQL)",
                f"{med(tr) / med(tb):.1f}×",
                goal,
            )
        path = "/api/v1/analytics/trajectories/?align=first_calcium_directed"
        registry = get(path)
        tr, tb, body, _ = self._interleaved(registry, sql(benchmarking.TRAJECTORIES), repeat)
        child = self._child("--export-child", path)
        self._row(
            "`analytics/trajectories/` (one page: 500 cases, the cap)",
            f"{med(tr):.0f} ms, {len(body) / 1e6:.1f} MB, {registry.queries} q, peak RSS {child['peak_rss_mb']:.0f} MB "
            f"({child['rss_before_mb']:.0f} MB before)",
            f"{med(tb):.0f} ms (hand SQL)",
            f"{med(tr) / med(tb):.1f}×",
            "paginated or capped; < 150 MB RSS",
        )
        for path in benchmarking.EXPORT_COPIES:
            r, b = self._child("--export-child", path), self._child("--copy-child", path)
            self._row(
                f"`{path.removeprefix('/api/v1/')}` (all, own process)",
                f"{r['seconds']:.1f} s, {r['bytes'] / 1e6:.0f} MB, peak RSS {r['peak_rss_mb']:.0f} MB "
                f"({r['rss_before_mb']:.0f} MB before)"
                f"{', streamed' if r['streamed'] else ', NOT streamed'}",
                f"{b['seconds']:.1f} s, {b['bytes'] / 1e6:.0f} MB, peak RSS {b['peak_rss_mb']:.0f} MB "
                f"({b['rss_before_mb']:.0f} MB before; COPY)",
                f"{r['seconds'] / b['seconds']:.1f}×",
                "streamed, < 150 MB RSS, ≤ 2×",
            )
        self._page_rows(get, sql, med, first_pk, repeat)
        self._write_rows(repeat, imports)

    def _page_rows(self, get, sql, med, first_pk: int, repeat: int) -> None:
        """The dashboard (once: it is the slowest page) and the admin's changelist and case page."""
        registry = get("/dashboard/")
        tr, _, body, _ = self._interleaved(registry, None, 1)
        self._row("`/dashboard/` (once)", f"{med(tr):.0f} ms, {len(body) / 1e3:.0f} KB, {registry.queries} q",
                  goal="< 1 s, size bounded")  # fmt: skip
        registry = get("/admin/cases/case/")
        tr, tb, _, _ = self._interleaved(registry, sql(benchmarking.ADMIN_CHANGELIST), repeat)
        self._row(
            "admin changelist",
            f"{med(tr):.0f} ms, {registry.queries} q",
            f"{med(tb):.1f} ms",
            f"{med(tr) / med(tb):.0f}×",
            "< 100 ms",
        )
        registry = get(f"/admin/cases/case/{first_pk}/change/")
        tr, _, body, _ = self._interleaved(registry, None, repeat)
        self._row("admin case page", f"{med(tr):.0f} ms, {registry.queries} q, {len(body) / 1e3:.0f} KB HTML",
                  goal="< 150 ms")  # fmt: skip

    def _write_rows(self, repeat: int, documents: int) -> None:
        """A 27-row case created through the API; then `documents` of them imported in one call
        (cases.document.import_cases: validated, with history) against COPY of exactly the rows the import
        wrote (benchmarking.clone of the imported cases). Everything is rolled back."""
        from cases.document import import_cases

        with transaction.atomic():
            user, source, document, milliseconds, queries = time_create(repeat)
            rows = 1 + sum(len(document.get(relation, [])) for relation in ROW_KINDS)  # the case and its rows
            self._row(
                f"create one {rows - 1}-row case (POST)",
                f"{milliseconds:.0f} ms, {queries} queries",
                goal="≤ 30 queries",
            )
            t0 = time.perf_counter()
            imported = import_cases([document] * documents, user=user)
            seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            copied = benchmarking.clone([c.pk for c in imported], documents, title="benchmark case (copy) {i}")
            baseline = time.perf_counter() - t0
            total = rows * documents
            self._row(
                f"bulk import, {documents} cases ({total} rows)",
                f"{documents / seconds:.1f} cases/s = {total / seconds:,.0f} rows/s",
                f"COPY of the same {copied} rows: {copied / baseline:,.0f} rows/s",
                f"1/{(total / seconds) and (copied / baseline) / (total / seconds):,.0f}",
                "≥ 10,000 validated rows/s (1/20 of COPY), history complete",
            )
            transaction.set_rollback(True)

    def _child(self, flag: str, path: str) -> dict:
        child = subprocess.run(  # noqa: S603 (our own command)
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "benchmark", flag, path],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(child.stdout.strip().splitlines()[-1])

    def _copy_child(self, path: str) -> None:
        """The export's baseline in a process of its own: COPY ... TO STDOUT, read as a client would."""
        connection.ensure_connection()
        before = peak_rss_kib()
        started = time.perf_counter()
        size = 0
        with connection.connection.cursor() as cursor:
            with cursor.copy(benchmarking.EXPORT_COPIES[path]) as copy:
                for block in copy:
                    size += len(block)
        seconds = time.perf_counter() - started
        self.stdout.write(
            json.dumps(
                {
                    "path": path,
                    "seconds": seconds,
                    "bytes": size,
                    "streamed": True,
                    "rss_before_mb": before / 1024,
                    "peak_rss_mb": peak_rss_kib() / 1024,
                }
            )
        )

    def _gunicorn_rows(self, client: Client, raw, first_pk: int, repeat: int) -> None:
        """The list and a case over HTTP from gunicorn (2 sync workers, one per core), p50 of sequential
        requests; then throughput with 4 connections for 10 s against 4 database connections running the
        baseline's SQL (no HTTP in the baseline)."""
        import http.client
        import threading

        port = 8700 + os.getpid() % 200
        env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "REGISTRY_API_RATE_USER": USER_RATE}
        server = subprocess.Popen(  # noqa: S603 (our own server)
            [str(Path(sys.executable).parent / "gunicorn"), "registry.wsgi:application", "-w", "2", "-b",
             f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=settings.BASE_DIR, env=env,
        )  # fmt: skip
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        try:
            for _ in range(100):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
                    break
                except OSError:
                    time.sleep(0.2)

            def fetch(conn, path):
                conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise CommandError(f"gunicorn {path}: {response.status} {body[:200]!r}")
                return body

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for name, path, statement, params in (
                ("case list, 50 per page (gunicorn, p50)", "/api/v1/cases/?page_size=50",
                 benchmarking.LIST_PAGE, (50, 0)),
                ("one case (gunicorn, p50)", f"/api/v1/cases/{registry_id(first_pk)}/",
                 benchmarking.ONE_CASE, (first_pk,)),
            ):  # fmt: skip
                fetch(conn, path)  # each worker warms up
                fetch(conn, path)

                def baseline(statement=statement, params=params):
                    with raw.cursor() as cursor:
                        cursor.execute(statement, params)
                        return cursor.fetchone()[0].encode()

                tr, tb, body_r, body_b = self._interleaved(lambda path=path: fetch(conn, path), baseline, repeat)
                self._row(
                    name,
                    f"{statistics.median(tr):.1f} ms, {len(body_r) / 1000:.0f} KB",
                    f"{statistics.median(tb):.1f} ms, {len(body_b) / 1000:.0f} KB",
                    f"{statistics.median(tr) / statistics.median(tb):.1f}×",
                    "≤ 2×",
                )

            def throughput(work) -> float:
                done, stop = [0] * 4, time.perf_counter() + 10

                def loop(k):
                    state = work()
                    while time.perf_counter() < stop:
                        state()
                        done[k] += 1

                threads = [threading.Thread(target=loop, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                return sum(done) / 10

            def http_worker():
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                return lambda: fetch(c, "/api/v1/cases/?page_size=50")

            def sql_worker():
                import psycopg

                params = connection.get_connection_params()
                params.pop("cursor_factory", None)
                params.pop("context", None)
                db = psycopg.connect(**params, autocommit=True)

                def run():
                    with db.cursor() as cursor:
                        cursor.execute(benchmarking.LIST_PAGE, (50, 0))
                        cursor.fetchone()[0].encode()

                return run

            registry_rps, baseline_rps = throughput(http_worker), throughput(sql_worker)
            forget_requests(User.objects.get(pk=client.session["_auth_user_id"]))  # its ~2,000 requests
            self._row(
                "throughput, 50 per page, 4 connections (gunicorn, 2 workers; baseline: 4 psycopg connections)",
                f"{registry_rps:.1f} req/s",
                f"{baseline_rps:.1f} req/s",
                f"{baseline_rps / registry_rps:.1f}×",
                "≤ 2×",
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
