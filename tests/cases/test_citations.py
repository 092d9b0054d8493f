"""Sources from citation files (RIS, BibTeX, MEDLINE, PubMed XML), the one duplicate finder, the admin import."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cases.citations import CitationError, parse_citations, source_duplicates
from cases.models import Source
from tests.factories import make_source, make_user

pytestmark = pytest.mark.django_db

ABSTRACT = "A 61-year-old woman had dystrophic calcification after long-term zoledronic acid."
TITLE = "Dystrophic Cutaneous Calcification due to Long Term Bisphosphonate Use in Breast Cancer"

RIS = f"""TY  - JOUR
AU  - Smith, John
AU  - Doe, Jane
TI  - {TITLE}
T2  - Case Reports in Oncological Medicine
PY  - 2013
VL  - 2013
IS  - 4
SP  - 871917
DO  - 10.1155/2013/871917
AB  - {ABSTRACT}
ER  -{" "}
"""

BIBTEX = f"""@article{{smith2013,
  author = {{Smith, John and Doe, Jane}},
  title = {{{TITLE}}},
  journal = {{Case Reports in Oncological Medicine}},
  year = {{2013}},
  volume = {{2013}},
  number = {{4}},
  pages = {{1--3}},
  doi = {{10.1155/2013/871917}},
  abstract = {{{ABSTRACT}}}
}}
"""

MEDLINE = f"""PMID- 23738165
OWN - NLM
TI  - {TITLE}
PG  - 871917
AB  - {ABSTRACT}
AU  - Smith J
AU  - Doe J
PT  - Journal Article
DP  - 2013
TA  - Case Rep Oncol Med
JT  - Case reports in oncological medicine
VI  - 2013
AID - 10.1155/2013/871917 [doi]
PMC - PMC3665181
"""

PUBMED_XML = f"""<?xml version="1.0" ?>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>23738165</PMID><Article>
<Journal><JournalIssue><Volume>2013</Volume><Issue>4</Issue><PubDate><Year>2013</Year></PubDate></JournalIssue>
<Title>Case reports in oncological medicine</Title></Journal>
<ArticleTitle>{TITLE}</ArticleTitle><Pagination><MedlinePgn>871917</MedlinePgn></Pagination>
<Abstract><AbstractText Label="CASE">{ABSTRACT}</AbstractText></Abstract>
<AuthorList><Author><LastName>Smith</LastName><Initials>J</Initials></Author></AuthorList>
<PublicationTypeList><PublicationType>Congress</PublicationType></PublicationTypeList>
</Article></MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType="doi">10.1155/2013/871917</ArticleId>
<ArticleId IdType="pmc">PMC3665181</ArticleId></ArticleIdList></PubmedData></PubmedArticle></PubmedArticleSet>
"""


@pytest.mark.parametrize("data", [RIS, BIBTEX, MEDLINE, PUBMED_XML], ids=["ris", "bibtex", "medline", "xml"])
def test_each_format_fills_a_valid_source_with_the_abstract_as_text(data):
    (citation,) = parse_citations(data.encode())
    fields = citation.source_fields()
    assert fields["title"] == TITLE
    assert fields["doi"] == "10.1155/2013/871917"
    assert fields["year"] == 2013 and fields["volume"] == "2013"
    assert fields["text"].endswith(ABSTRACT)
    assert fields["authors"].splitlines()[0].startswith("Smith")
    assert TITLE in fields["citation"] and "doi:10.1155/2013/871917" in fields["citation"]
    source = Source(**fields)
    source.full_clean()
    source.save()


def test_identifiers_and_kind_from_pubmed():
    (medline,) = parse_citations(MEDLINE)
    assert (medline.pmid, medline.pmcid, medline.kind) == ("23738165", "PMC3665181", "case_report")
    (xml,) = parse_citations(PUBMED_XML)
    assert (xml.pmid, xml.pmcid, xml.issue, xml.kind) == ("23738165", "PMC3665181", "4", "conference_abstract")
    assert xml.abstract == f"CASE: {ABSTRACT}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "empty"),
        ("Just a paragraph of text.", "not a RIS, BibTeX"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "declares entities"),
        ("<PubmedArticleSet><PubmedArticle>", "could not be read"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        ("TY  - JOUR\nAU  - Smith, J\nER  - \n", "no citation with a title"),
    ],
)
def test_unreadable_files_say_why(data, reason):
    with pytest.raises(CitationError, match=reason):
        parse_citations(data)


def test_a_pmcid_is_validated():
    source = Source(kind="case_report", citation="c", title="t", pmcid="3665181")
    with pytest.raises(ValidationError, match="PMC"):
        source.full_clean()


def test_duplicates_by_doi_pmid_or_a_nearly_equal_title():
    by_doi = make_source(title="Something else", doi="10.1155/2013/871917")
    by_pmid = make_source(title="Another", pmid="23738165")
    by_title = make_source(title=TITLE.upper().replace("LONG TERM", "LONG-TERM") + ".")
    make_source(title="Hypercalcemia in lung cancer")
    assert source_duplicates(doi="10.1155/2013/871917".upper()) == [by_doi]
    assert source_duplicates(pmid="23738165") == [by_pmid]
    assert source_duplicates(title=TITLE) == [by_title]
    assert source_duplicates(doi="10.1155/2013/871917", pmid="23738165", title=TITLE) == [by_doi, by_pmid, by_title]
    assert source_duplicates(doi="10.1/none", pmid="1", title="Calcium in myeloma") == []


def admin_client(role="curator") -> Client:
    client = Client()
    client.force_login(make_user(f"{role}-admin", role))
    return client


def upload(client, data: str, name: str):
    file = SimpleUploadedFile(name, data.encode(), content_type="application/octet-stream")
    return client.post("/admin/cases/source/import-citation/", {"file": file}, follow=True)


def test_the_admin_import_creates_a_source_once_and_offers_the_duplicate_after():
    client = admin_client()
    assert "Import citation file" in client.get("/admin/cases/source/").content.decode()
    page = upload(client, RIS, "paper.ris").content.decode()
    source = Source.objects.get()
    assert "Created source" in page and source.text == ABSTRACT and source.doi == "10.1155/2013/871917"
    again = upload(client, MEDLINE, "paper.nbib").content.decode()
    assert Source.objects.count() == 1
    assert "already in the registry" in again and f"/admin/cases/source/{source.pk}/change/" in again


def test_the_admin_import_shows_a_bad_file_on_the_form_and_writes_nothing():
    page = upload(admin_client(), "not a citation", "notes.txt")
    assert page.status_code == 200
    assert "is not a RIS, BibTeX, PubMed/MEDLINE or PubMed XML export" in page.content.decode()
    second = RIS.replace(TITLE, "Another paper").replace("DO  - 10.1155/2013/871917", "UR  - not a url")
    two_papers = RIS + "\n" + second
    page = upload(admin_client("reviewer"), two_papers, "two.ris").content.decode()
    assert "“Another paper”: url: Enter a valid URL." in page
    assert not Source.objects.exists()  # all or nothing: the valid first paper is not created either


def test_an_analyst_cannot_import():
    assert admin_client("analyst").get("/admin/cases/source/import-citation/").status_code == 403
