"""Frozen releases: the published cases at one moment as one ZIP archive a paper can cite.

The archive holds the tables (tables/*.csv) and the codebook, each case as a document (cases/), a Phenopacket
(phenopackets/) and a FHIR Bundle (fhir/), CITATION.cff with the version and date, and MANIFEST.sha256 (the
SHA-256 of every other file, `sha256sum -c` format). It is deterministic: the same registry state, version and
date give the same bytes (fixed order, every entry dated with the release date, fixed ZIP metadata).

The document builders are parameters (the API provides them: cases/ does not import api/), so that
release_cut() is a plain function a task queue can run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import tables
from .archives import ZipEntry, zip_stream
from .models import Case, Release

CITATION_TITLE = "Oncology calcium-disorder case registry"
CASE_CHUNK = 200  # cases per round trip when building documents (each chunk runs the prefetches once)


@dataclass(frozen=True)
class DocumentBuilders:
    """Per case (fetched with Case.objects.with_children()), the JSON objects the release holds."""

    case_document: Callable[[Case], dict]
    phenopacket: Callable[[Case], dict]
    fhir_bundle: Callable[[Case], dict]


def release_dir() -> Path:
    return Path(getattr(settings, "REGISTRY_RELEASE_DIR", settings.BASE_DIR / "var" / "releases"))


def release_path(release: Release) -> Path:
    return release_dir() / release.file_name


def citation_cff(*, version: str, released_on, case_count: int) -> str:
    """Citation File Format 1.2.0 metadata for the dataset."""
    return (
        "cff-version: 1.2.0\n"
        'message: "If you use these data, please cite this release of the registry."\n'
        "type: dataset\n"
        f'title: "{CITATION_TITLE}"\n'
        "authors:\n"
        f'  - name: "{CITATION_TITLE} curators"\n'
        f'version: "{version}"\n'
        f'date-released: "{released_on.isoformat()}"\n'
        f'abstract: "The {case_count} published cases of the registry on {released_on.isoformat()}: tidy tables '
        'with a codebook, case documents, GA4GH Phenopackets v2 and FHIR R4 Bundles."\n'
    )


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _documents(cases: QuerySet, folder: str, build: Callable[[Case], dict]) -> Iterator[ZipEntry]:
    for case in cases.with_children().iterator(chunk_size=CASE_CHUNK):
        yield ZipEntry(f"{folder}/{case.registry_id}.json", [_json(build(case))])


def _hashed(entries: Iterable[ZipEntry], digests: dict[str, str]) -> Iterator[ZipEntry]:
    """The entries, each hashed as it is written; digests fills in as the archive is written."""

    def chunks(entry: ZipEntry) -> Iterator[bytes]:
        digest = hashlib.sha256()
        for chunk in entry.chunks:
            data = chunk.encode() if isinstance(chunk, str) else chunk
            digest.update(data)
            yield data
        digests[entry.name] = digest.hexdigest()

    for entry in entries:
        yield ZipEntry(entry.name, chunks(entry))


def release_entries(cases: QuerySet, builders: DocumentBuilders, *, version: str, released_on) -> Iterator[ZipEntry]:
    """Every file of the release, in archive order; MANIFEST.sha256 last."""
    digests: dict[str, str] = {}
    content = [
        ZipEntry("CITATION.cff", [citation_cff(version=version, released_on=released_on, case_count=cases.count())]),
        ZipEntry("codebook.csv", [tables.codebook_csv()]),
        ZipEntry("codebook.json", [_json({"tables": tables.table_meanings(), "columns": tables.codebook()})]),
        *(ZipEntry(f"tables/{name}.csv", tables.table_csv(table, cases)) for name, table in tables.TABLES.items()),
    ]
    yield from _hashed(content, digests)
    yield from _hashed(_documents(cases, "cases", builders.case_document), digests)
    yield from _hashed(_documents(cases, "phenopackets", builders.phenopacket), digests)
    yield from _hashed(_documents(cases, "fhir", builders.fhir_bundle), digests)

    def manifest() -> Iterator[str]:  # runs once every other entry has been written
        yield "".join(f"{digest}  {name}\n" for name, digest in digests.items())

    yield ZipEntry("MANIFEST.sha256", manifest())


def release_archive(cases: QuerySet, builders: DocumentBuilders, *, version: str, released_on) -> Iterator[bytes]:
    date_time = (released_on.year, released_on.month, released_on.day, 0, 0, 0)
    return zip_stream(release_entries(cases, builders, version=version, released_on=released_on), date_time=date_time)


def release_cut(*, user, version: str, builders: DocumentBuilders, notes: str = "") -> Release:
    """Freeze the published cases now as release `version` (unique): write the archive, then its record."""
    release = Release(version=version, notes=notes)
    release.full_clean(exclude=["released_on", "cut_at", "cut_by", "case_count", "size_bytes", "sha256"])
    directory = release_dir()
    directory.mkdir(parents=True, exist_ok=True)
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":  # every query of the cut sees the same snapshot
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cases = Case.objects.published().order_by("id")
        release.cut_at = timezone.now()
        release.released_on = release.cut_at.date()
        release.cut_by = user
        release.case_count = cases.count()
        path = release_path(release)
        if path.exists():
            raise ValidationError(f"{path} exists already; a release's file is never overwritten.")
        partial = path.with_suffix(".partial")
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                for chunk in release_archive(cases, builders, version=version, released_on=release.released_on):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            os.chmod(partial, 0o444)
            partial.rename(path)
        finally:
            partial.unlink(missing_ok=True)
        release.sha256, release.size_bytes = digest.hexdigest(), size
        try:
            release.save()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return release
