"""Sources from citation files (RIS, BibTeX, PubMed/MEDLINE text, PubMed XML) and the one duplicate finder.

Parsed with maintained parsers (rispy, bibtexparser, Biopython's Bio.Medline) and ElementTree for PubMed XML
(no DTD validation, nothing fetched: never Bio.Entrez, whose parser downloads DTDs). The abstract becomes the
source's text, ready to propose rows from.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET  # noqa: S405  (no DTD, no entities: refused below)
from dataclasses import dataclass, field

import bibtexparser
import rispy
from Bio import Medline
from rapidfuzz import fuzz

from .vocabularies import SourceKind


class CitationError(ValueError):
    """A citation file that cannot be read, with the reason."""


@dataclass
class Citation:
    title: str = ""
    authors: list[str] = field(default_factory=list)
    journal: str = ""
    year: int | None = None
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    pmcid: str = ""
    url: str = ""
    abstract: str = ""
    kind: str = SourceKind.CASE_REPORT

    def citation_text(self) -> str:
        """A reference-list line: Authors. Title. Journal. Year;Volume(Issue):Pages. doi:..."""
        authors = ", ".join(self.authors[:6]) + (", et al" if len(self.authors) > 6 else "")
        where = f"{self.year or ''}"
        if self.volume:
            where += f";{self.volume}" + (f"({self.issue})" if self.issue else "")
        if self.pages:
            where += f":{self.pages}"
        parts = [authors, self.title.rstrip("."), self.journal, where, f"doi:{self.doi}" if self.doi else ""]
        return ". ".join(p for p in parts if p) + "."

    def source_fields(self) -> dict:
        """The Source model's fields."""
        return {
            "kind": self.kind,
            "citation": self.citation_text(),
            "title": self.title[:500],
            "journal": self.journal[:300],
            "year": self.year,
            "doi": self.doi,
            "pmid": self.pmid,
            "pmcid": self.pmcid,
            "url": self.url[:500],
            "authors": "\n".join(self.authors),
            "volume": self.volume[:50],
            "issue": self.issue[:50],
            "pages": self.pages[:50],
            "text": self.abstract,
        }


def _year(text) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20\d\d|2100)\b", str(text or ""))
    return int(m.group()) if m else None


def _doi(text: str) -> str:
    m = re.search(r"10\.\d{4,9}/\S+", text or "")
    return m.group().rstrip(".,;") if m else ""


def _pmcid(text: str) -> str:
    m = re.search(r"PMC\d+", text or "")
    return m.group() if m else ""


def _clean(text) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().strip("{}")


CONFERENCE_RIS = {"CONF", "CPAPER", "ABST", "SLIDE"}
CONFERENCE_PUBMED = ("congress", "meeting abstract")


def parse_ris(text: str) -> list[Citation]:
    out = []
    for entry in rispy.loads(text):
        pages = "-".join(p for p in (entry.get("start_page"), entry.get("end_page")) if p)
        urls = entry.get("urls") or []
        out.append(
            Citation(
                title=_clean(entry.get("title") or entry.get("primary_title")),
                authors=[_clean(a) for a in entry.get("authors") or entry.get("first_authors") or []],
                journal=_clean(
                    entry.get("journal_name") or entry.get("secondary_title") or entry.get("alternate_title3")
                ),
                year=_year(entry.get("year") or entry.get("publication_year") or entry.get("date")),
                volume=_clean(entry.get("volume")),
                issue=_clean(entry.get("number")),
                pages=pages,
                doi=_doi(entry.get("doi", "")),
                pmcid=_pmcid(" ".join(entry.get("notes") or [])),
                url=urls[0] if urls else "",
                abstract=(entry.get("abstract") or "").strip(),
                kind=SourceKind.CONFERENCE_ABSTRACT
                if entry.get("type_of_reference") in CONFERENCE_RIS
                else SourceKind.CASE_REPORT,
            )
        )
    return out


def parse_bibtex(text: str) -> list[Citation]:
    library = bibtexparser.parse_string(text)
    if library.failed_blocks and not library.entries:
        raise CitationError("The BibTeX file could not be read: " + str(library.failed_blocks[0].error))
    out = []
    for entry in library.entries:
        f = {k.lower(): v.value for k, v in entry.fields_dict.items()}
        out.append(
            Citation(
                title=_clean(f.get("title")),
                authors=[_clean(a) for a in re.split(r"\s+and\s+", f.get("author", "")) if a.strip()],
                journal=_clean(f.get("journal") or f.get("booktitle")),
                year=_year(f.get("year")),
                volume=_clean(f.get("volume")),
                issue=_clean(f.get("number")),
                pages=_clean(f.get("pages")).replace("--", "-"),
                doi=_doi(f.get("doi", "")),
                pmid=_clean(f.get("pmid")),
                pmcid=_pmcid(f.get("pmcid", "")),
                url=_clean(f.get("url")),
                abstract=_clean(f.get("abstract")),
                kind=SourceKind.CONFERENCE_ABSTRACT
                if entry.entry_type.lower() in ("inproceedings", "conference", "proceedings")
                else SourceKind.CASE_REPORT,
            )
        )
    return out


def parse_medline(text: str) -> list[Citation]:
    out = []
    for record in Medline.parse(io.StringIO(text)):
        if not record.get("PMID") and not record.get("TI"):
            continue
        ids = " ".join(record.get("AID", []) + [record.get("LID", "")])
        types = " ".join(record.get("PT", [])).lower()
        out.append(
            Citation(
                title=_clean(record.get("TI")),
                authors=list(record.get("AU", [])),
                journal=_clean(record.get("JT") or record.get("TA")),
                year=_year(record.get("DP")),
                volume=_clean(record.get("VI")),
                issue=_clean(record.get("IP")),
                pages=_clean(record.get("PG")),
                doi=_doi(ids),
                pmid=_clean(record.get("PMID")),
                pmcid=_pmcid(record.get("PMC", "")),
                abstract=_clean(record.get("AB")),
                kind=SourceKind.CONFERENCE_ABSTRACT
                if any(t in types for t in CONFERENCE_PUBMED)
                else SourceKind.CASE_REPORT,
            )
        )
    return out


def parse_pubmed_xml(text: str) -> list[Citation]:
    if re.search(r"<!ENTITY", text, re.I):
        raise CitationError("The XML declares entities; a PubMed export does not. Nothing was read.")
    try:
        root = ET.fromstring(text)  # noqa: S314  (entities refused above; expat loads no DTD)
    except ET.ParseError as exc:
        raise CitationError(f"The XML could not be read: {exc}.") from exc
    out = []
    articles = [root] if root.tag == "PubmedArticle" else root.iter("PubmedArticle")
    for article in articles:
        cit = article.find("MedlineCitation")
        art = cit.find("Article") if cit is not None else None
        if art is None:
            continue
        authors = []
        for a in art.iterfind("AuthorList/Author"):
            if a.findtext("CollectiveName"):
                authors.append(a.findtext("CollectiveName"))
            elif a.findtext("LastName"):
                authors.append(f"{a.findtext('LastName')} {a.findtext('Initials') or ''}".strip())
        abstract = "\n".join(
            ((f"{p.get('Label')}: " if p.get("Label") else "") + "".join(p.itertext())).strip()
            for p in art.iterfind("Abstract/AbstractText")
        )
        ids = {i.get("IdType"): (i.text or "").strip() for i in article.iterfind("PubmedData/ArticleIdList/ArticleId")}
        elocation = {e.get("EIdType"): (e.text or "").strip() for e in art.iterfind("ELocationID")}
        issue = art.find("Journal/JournalIssue")
        year = None
        if issue is not None:
            year = _year(issue.findtext("PubDate/Year") or issue.findtext("PubDate/MedlineDate"))
        types = " ".join((t.text or "") for t in art.iterfind("PublicationTypeList/PublicationType")).lower()
        out.append(
            Citation(
                title=_clean(
                    "".join(art.find("ArticleTitle").itertext()) if art.find("ArticleTitle") is not None else ""
                ),
                authors=authors,
                journal=_clean(art.findtext("Journal/Title") or art.findtext("Journal/ISOAbbreviation")),
                year=year,
                volume=_clean(issue.findtext("Volume") if issue is not None else ""),
                issue=_clean(issue.findtext("Issue") if issue is not None else ""),
                pages=_clean(art.findtext("Pagination/MedlinePgn")),
                doi=_doi(ids.get("doi") or elocation.get("doi", "")),
                pmid=_clean(cit.findtext("PMID")),
                pmcid=_pmcid(ids.get("pmc", "")),
                abstract=abstract,
                kind=SourceKind.CONFERENCE_ABSTRACT
                if any(t in types for t in CONFERENCE_PUBMED)
                else SourceKind.CASE_REPORT,
            )
        )
    return out


def parse_citations(data: str | bytes, filename: str = "") -> list[Citation]:
    """Every citation in a RIS, BibTeX, MEDLINE or PubMed XML file, recognised by its content."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CitationError("The file is not UTF-8 text.") from exc
    text = data.strip()
    if not text:
        raise CitationError("The file is empty.")
    if text.startswith("<"):
        citations = parse_pubmed_xml(text)
    elif re.match(r"TY  - ", text):
        citations = parse_ris(text)
    elif text.startswith("@"):
        citations = parse_bibtex(text)
    elif re.match(r"PMID- ", text):
        citations = parse_medline(text)
    else:
        raise CitationError(f"{filename or 'The file'} is not a RIS, BibTeX, PubMed/MEDLINE or PubMed XML export.")
    citations = [c for c in citations if c.title]
    if not citations:
        raise CitationError(f"{filename or 'The file'} holds no citation with a title.")
    return citations


def normalised_title(title: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", title.lower()))


TITLE_SIMILARITY = 92  # rapidfuzz ratio (0-100) above which two normalised titles are taken as the same paper


def source_duplicates(*, doi: str = "", pmid: str = "", title: str = "", exclude: int | None = None) -> list:
    """The existing sources (but `exclude`) that are this paper: same DOI (case-insensitive), same PMID, or a title
    equal after normalisation or nearly so (rapidfuzz ratio >= TITLE_SIMILARITY); those matched by DOI or PMID first,
    then by id. The one duplicate finder: source creation (API and admin), the citation-file, JSON and Phenopacket
    imports use it."""
    from django.db.models import Q

    from .models import Source

    query = Q(pk__in=[])
    if doi and doi.strip():
        query |= Q(doi__iexact=doi.strip())
    if pmid and pmid.strip():
        query |= Q(pmid=pmid.strip())
    others = Source.objects.exclude(pk=exclude) if exclude is not None else Source.objects.all()
    by_identifier = sorted(others.filter(query), key=lambda s: s.pk)
    wanted = normalised_title(title)
    similar = []
    if wanted:
        known = [s.pk for s in by_identifier]
        for pk, other in others.exclude(pk__in=known).values_list("pk", "title").order_by("pk"):
            if fuzz.ratio(wanted, normalised_title(other)) >= TITLE_SIMILARITY:
                similar.append(pk)
    return by_identifier + list(Source.objects.filter(pk__in=similar).order_by("pk"))


class LikelySourceDuplicate(Exception):
    """A new (or changed) source that source_duplicates finds in the registry, not confirmed as "duplicate"."""

    def __init__(self, found: list) -> None:
        self.found = found
        names = "; ".join(f"source {s.pk} ({s.title[:80]})" for s in found[:5])
        super().__init__(
            f"Likely the same paper as {names}: the same DOI, PMID or (nearly) the same title. Use the existing "
            'source, or if this is a different paper send it again with "duplicate" in its "confirm" list.'
        )


def check_source_duplicates(
    *, doi: str = "", pmid: str = "", title: str = "", confirm=(), exclude: int | None = None
) -> None:
    """LikelySourceDuplicate unless no existing source is this paper or "duplicate" is confirmed."""
    if "duplicate" in confirm:
        return
    found = source_duplicates(doi=doi, pmid=pmid, title=title, exclude=exclude)
    if found:
        raise LikelySourceDuplicate(found)


def sources_from_citations(citations: list[Citation]) -> tuple[list, list[tuple[Citation, list]]]:
    """Create a Source per citation unless `source_duplicates` finds it: (created, [(citation, existing)]).
    All or nothing: a citation that fails validation (ValidationError naming it) creates none."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from .models import Source

    created, offered = [], []
    with transaction.atomic():
        for citation in citations:
            duplicates = source_duplicates(doi=citation.doi, pmid=citation.pmid, title=citation.title)
            if duplicates:
                offered.append((citation, duplicates))
                continue
            source = Source(**citation.source_fields())
            try:
                source.full_clean()
            except ValidationError as exc:
                raise ValidationError(
                    [f"“{citation.title[:80]}”: {name}: {'; '.join(m)}" for name, m in exc.message_dict.items()]
                ) from exc
            source.save()
            created.append(source)
    return created, offered
