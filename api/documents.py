"""Case documents in and out of the registry as files: the admin's JSON export and import use exactly the
document the API returns and accepts."""

from __future__ import annotations

from django.db import DataError, IntegrityError, transaction

from cases.models import Case, Source
from cases.services import CHILD_RELATIONS, DocumentError, case_save_document

from .errors import database_refusal, flatten
from .serializers import CaseSerializer, SourceSerializer

# Returned by the API but owned by the server (or derived): ignored on import.
READ_ONLY = {
    "id",
    "status",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "derived",
    "disorder_hpo",
    "source",
}


class ImportFailed(Exception):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def export_documents(cases, request=None) -> list[dict]:
    cases = Case.objects.filter(pk__in=cases.values("pk")).with_children()
    return CaseSerializer(cases, many=True, context={"request": request}).data


SOURCE_MATCH_KEYS = ("doi", "pmid", "title", "citation")


def _source_for(document: dict, errors: list[str], where: str) -> int | None:
    """The source an imported document refers to: source_id, else the exported source matched by DOI, PMID, or
    identical title and citation, else that source created anew."""
    if document.get("source_id") is not None:
        return document["source_id"]
    source = document.get("source")
    if not isinstance(source, dict):
        errors.append(f"{where}: source: give source_id or the exported source object.")
        return None
    wrong = [key for key in SOURCE_MATCH_KEYS if source.get(key) is not None and not isinstance(source[key], str)]
    if wrong:  # checked before they reach a query
        errors.extend(f"{where}: source.{key}: expected a string." for key in wrong)
        return None
    for key in ("doi", "pmid"):
        if source.get(key):
            match = Source.objects.filter(**{key: source[key]}).first()
            if match:
                return match.pk
    match = Source.objects.filter(title=source.get("title"), citation=source.get("citation")).first()
    if match:
        return match.pk
    serializer = SourceSerializer(data={k: v for k, v in source.items() if k != "id"})
    if not serializer.is_valid():
        errors.extend(f"{where}: source.{e['field']}: {e['reason']}" for e in flatten(serializer.errors))
        return None
    return serializer.save().pk


def _shape_errors(document: dict, where: str) -> list[str]:
    """Problems of shape the serializer would trip over before it could name them: row lists that are not lists
    of objects."""
    errors = []
    for relation in CHILD_RELATIONS:
        rows = document.get(relation)
        if rows is None:
            continue
        if not isinstance(rows, list):
            errors.append(f"{where}: {relation}: expected a list of objects, not {type(rows).__name__}.")
            continue
        errors.extend(
            f"{where}: {relation}[{n}]: expected an object, not {type(row).__name__}."
            for n, row in enumerate(rows)
            if not isinstance(row, dict)
        )
    return errors


def _strip_row_ids(document: dict) -> dict:
    for relation in CHILD_RELATIONS:
        document[relation] = [{k: v for k, v in row.items() if k != "id"} for row in document.get(relation) or []]
    return document


def import_cases(documents, *, user, progress=None) -> list[Case]:
    """Create every document as a new draft case, or none: errors name the document, the field and the reason.
    progress(done, total), if given, is called after each document is checked (api.jobs shows it)."""
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list) or not documents:
        raise ImportFailed(["Expected a case document or a non-empty list of them."])
    errors: list[str] = []
    with transaction.atomic():
        validated = []
        for n, document in enumerate(documents, start=1):
            if progress is not None and n > 1:
                progress(n - 1, len(documents))
            if not isinstance(document, dict):
                errors.append(f"case {n}: not a JSON object")
                continue
            title = document.get("title")
            where = f"case {n}" + (f" ({title})" if isinstance(title, str) and title else "")
            shape = _shape_errors(document, where)
            if shape:
                errors.extend(shape)
                continue
            document = _strip_row_ids({k: v for k, v in document.items() if k not in READ_ONLY or k == "source"})
            document["source_id"] = source_id = _source_for(document, errors, where)
            document.pop("source", None)
            serializer = CaseSerializer(data=document)
            if serializer.is_valid():
                validated.append((where, serializer.validated_data))
            else:
                errors.extend(
                    f"{where}: {e['field']}: {e['reason']}"
                    for e in flatten(serializer.errors)
                    if source_id is not None or e["field"] != "source_id"  # the source's problem is named above
                )
        cases = []
        if not errors:
            for where, data in validated:
                try:
                    cases.append(case_save_document(data=data, user=user))
                except DocumentError as exc:  # a rule only the stored rows could check; that write is rolled back
                    errors.extend(f"{where}: {field}: {reason}" for field, reason in exc.errors.items())
                except (DataError, IntegrityError) as exc:  # the safety net of api.errors, as an import error
                    errors.extend(f"{where}: {reason}" for reason in database_refusal(exc).detail["non_field_errors"])
        if errors:
            transaction.set_rollback(True)  # sources and cases created for other documents go too
            raise ImportFailed(errors)
        return cases
