"""Case documents in and out of the registry as files: the admin's JSON export and import use exactly the
document the API returns and accepts."""

from __future__ import annotations

from django.db import transaction

from cases.models import Case, Source
from cases.services import case_save_document

from .errors import flatten
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


def _source_for(document: dict, errors: list[str], where: str) -> int | None:
    """The source an imported document refers to: source_id, else the exported source matched by DOI, PMID, or
    identical title and citation, else that source created anew."""
    if document.get("source_id") is not None:
        return document["source_id"]
    source = document.get("source")
    if not isinstance(source, dict):
        errors.append(f"{where}: source: give source_id or the exported source object.")
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


def _strip_row_ids(document: dict) -> dict:
    for relation in ("tumors", "metastases", "mechanisms", "findings", "labs", "interventions"):
        document[relation] = [{k: v for k, v in row.items() if k != "id"} for row in document.get(relation) or []]
    return document


def import_cases(documents, *, user) -> list[Case]:
    """Create every document as a new draft case, or none: errors name the document, the field and the reason."""
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list) or not documents:
        raise ImportFailed(["Expected a case document or a non-empty list of them."])
    errors: list[str] = []
    with transaction.atomic():
        validated = []
        for n, document in enumerate(documents, start=1):
            where = f"case {n}" + (f" ({document.get('title')})" if isinstance(document, dict) else "")
            if not isinstance(document, dict):
                errors.append(f"{where}: not a JSON object")
                continue
            document = _strip_row_ids({k: v for k, v in document.items() if k not in READ_ONLY or k == "source"})
            document["source_id"] = _source_for(document, errors, where)
            document.pop("source", None)
            serializer = CaseSerializer(data=document)
            if serializer.is_valid():
                validated.append(serializer.validated_data)
            else:
                errors.extend(f"{where}: {e['field']}: {e['reason']}" for e in flatten(serializer.errors))
        if errors:
            transaction.set_rollback(True)  # sources created for other documents go too
            raise ImportFailed(errors)
        return [case_save_document(data=data, user=user) for data in validated]
