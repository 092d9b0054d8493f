"""Issue 13: the analyte table. The analytes measures.py listed are its rows, values identical; potassium, sodium and
eGFR are added with their sources; an analyte added in the admin is stored through the API like any other, with
the same refusals; the registry follows the table in this process and in the others."""

import itertools
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cases import analytes, measures
from cases.analytes import Analyte, AnalyteLoinc
from tests.admin_pages import login
from tests.api.documents import client_for, make_document
from tests.factories import make_case, make_lab

pytestmark = pytest.mark.django_db

USERS = itertools.count()


def post(labs: list[dict]):
    return client_for("curator", f"analyte-curator-{next(USERS)}").post(
        "/api/v1/cases/", make_document(labs=labs, interventions=[]), format="json"
    )


def errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.json()
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


def superuser() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("analyte-admin", password="pw-analyte-admin"))
    return client


def add_chloride() -> Analyte:
    """An analyte an administrator adds: no LOINC, one unit."""
    a = Analyte(
        code="chloride",
        label="Serum chloride",
        conventional_unit="mEq/L",
        si_unit="mmol/L",
        si_factor=Decimal("1"),
        plausible_max=Decimal("500"),
        sources="test",
    )
    a.full_clean()
    a.save()
    return a


def test_the_migrated_table_holds_the_old_list_value_for_value():
    table = analytes.load()
    for code, old in measures.BUILTIN_ANALYTES.items():
        assert table[code] == old, code  # every field: units, factor, LOINC with units and specimens, bound, synonyms
    assert list(table)[: len(measures.BUILTIN_ANALYTES)] == list(measures.BUILTIN_ANALYTES)  # the same order


def test_each_seeded_loinc_code_names_its_source():
    assert AnalyteLoinc.objects.count() == 15  # 13 analytes' 14 codes (ionized calcium has two), potassium, sodium
    assert not AnalyteLoinc.objects.filter(source="").exists()
    assert AnalyteLoinc.objects.get(code="2823-3").source.startswith("HL7 PDDI CDS IG, ValueSet valueset-potassium")


def test_potassium_sodium_and_egfr_are_present_with_their_sources_and_no_unsourced_code():
    table = measures.analytes()
    k, na, egfr = table["potassium"], table["sodium"], table["egfr"]
    assert (k.conventional_unit, k.si_unit, k.si_factor) == ("mEq/L", "mmol/L", Decimal("1"))
    assert (na.conventional_unit, na.si_unit, na.si_factor) == ("mEq/L", "mmol/L", Decimal("1"))
    assert k.loinc_for("mmol/L", "serum") == "2823-3" and na.loinc_for("mmol/L", "plasma") == "2951-2"
    assert k.loinc_for("mEq/L", "serum") is None  # the source names the code with mmol/L only
    assert k.loinc_for("mmol/L", None) is None  # "in Serum or Plasma": not for a specimen not reported
    assert egfr.units == ("mL/min/1.73 m²",) and egfr.loinc == ()  # the code depends on the equation: none
    assert measures.to_si(Decimal("4.2"), "potassium", "mEq/L") == Decimal("4.20")
    assert {"alkaline_phosphatase", "creatinine"} <= set(table)
    sources = dict(Analyte.objects.values_list("code", "sources"))
    assert "Davis's Lab & Diagnostic Tests" in sources["potassium"] and "Davis's" in sources["sodium"]
    assert "ckd-valueset-egfr" in sources["egfr"]


def test_an_added_analyte_is_stored_through_the_api_and_a_unit_not_in_its_table_gets_the_same_400():
    add_chloride()
    response = post([{"analyte": "chloride", "value": 98, "unit": "mEq/L", "ref_low": 96, "ref_high": 106}])
    assert response.status_code == 201, response.json()
    lab = response.json()["labs"][0]
    assert (lab["analyte"], lab["unit"], lab["loinc"]) == ("chloride", "mEq/L", None)
    assert lab["si"]["value"] == 98 and lab["si"]["unit"] == "mmol/L"
    refused = post([{"analyte": "chloride", "value": 98, "unit": "mg/dL"}])
    assert errors(refused) == {"labs[0].unit": "mg/dL is not a unit of serum chloride; use mEq/L or mmol/L."}
    refused = post([{"analyte": "chloride", "value": 9000, "unit": "mmol/L"}])
    assert errors(refused) == {
        "labs[0].value": "9000 mmol/L is not a possible serum chloride (at most 500 mmol/L); check the number and its "
        "unit."
    }


def test_a_changed_factor_is_read_at_once_in_the_documents_of_cases_already_stored():
    chloride = add_chloride()
    created = post([{"analyte": "chloride", "value": 98, "unit": "mEq/L"}])
    assert created.status_code == 201, created.json()
    url = f"/api/v1/cases/{created.json()['id']}/"
    reader = client_for("curator", "analyte-reader")
    assert reader.get(url).json()["labs"][0]["si"]["value"] == 98
    assert reader.get("/api/v1/cases/").json()["results"][0]["labs"][0]["si"]["value"] == 98
    chloride.si_factor = Decimal("2")  # a corrected factor (not chloride's: a test value)
    chloride.save()
    assert reader.get(url).json()["labs"][0]["si"]["value"] == 196
    assert reader.get("/api/v1/cases/").json()["results"][0]["labs"][0]["si"]["value"] == 196


def test_an_analyte_not_in_the_table_is_refused_by_the_api():
    refused = post([{"analyte": "chloride", "value": 98, "unit": "mmol/L"}])
    assert errors(refused) == {"labs[0].analyte": '"chloride" is not a valid choice.'}


def test_a_unit_not_reported_and_pthrp_in_mass_units_stay_valid():
    response = post(
        [
            {"analyte": "potassium", "value": 3.1, "unit_not_reported": True},
            {"analyte": "pthrp", "value": 40, "unit": "pg/mL"},
        ]
    )
    assert response.status_code == 201, response.json()
    labs = response.json()["labs"]
    assert (labs[0]["unit"], labs[0]["unit_not_reported"], labs[0]["si"]) == ("", True, None)
    assert (labs[1]["unit"], labs[1]["si"]) == ("pg/mL", None)


def test_a_protected_analyte_keeps_its_code_and_cannot_be_deleted_in_the_admin():
    calcium = Analyte.objects.get(code="calcium_total")
    calcium.code = "calcium"
    with pytest.raises(ValidationError) as excinfo:
        calcium.full_clean()
    assert excinfo.value.message_dict["code"] == ["The code of an analyte cannot change: lab results store it."]
    admin = superuser()
    calcium = Analyte.objects.get(code="calcium_total")
    page = admin.get(f"/admin/cases/analyte/{calcium.pk}/change/").content.decode()
    assert 'name="si_factor"' not in page and 'name="code"' not in page  # shown, not editable
    assert 'name="label"' in page and 'name="loinc_codes-0-code"' in page
    assert admin.post(f"/admin/cases/analyte/{calcium.pk}/delete/").status_code == 403
    assert Analyte.objects.filter(code="calcium_total").exists()


def test_an_analyte_with_labs_cannot_be_deleted_nor_lose_their_unit_but_an_unused_one_can_be_deleted():
    chloride = add_chloride()
    admin = superuser()
    assert admin.post(f"/admin/cases/analyte/{chloride.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Analyte.objects.filter(code="chloride").exists()
    chloride = add_chloride()
    make_lab(make_case(), analyte="chloride", value=Decimal("98"), unit="mmol/L")
    assert admin.post(f"/admin/cases/analyte/{chloride.pk}/delete/", {"post": "yes"}).status_code == 403
    url = f"/admin/cases/analyte/{chloride.pk}/change/"
    data = {
        "label": "Serum chloride",
        "synonyms": "",
        "position": "",
        "conventional_unit": "mEq/L",
        "si_unit": "mEq/L",  # drops mmol/L, which a lab is stored in
        "si_factor": "1",
        "printed_units": "",
        "plausible_max": "500",
        "sources": "test",
        "loinc_codes-TOTAL_FORMS": 0,
        "loinc_codes-INITIAL_FORMS": 0,
    }
    response = admin.post(url, data)
    assert response.status_code == 200
    assert "Lab results of Serum chloride are stored in mmol/L: keep the unit" in response.content.decode()
    response = admin.post(url, {**data, "si_unit": "mmol/L", "label": "Chloride"})
    assert response.status_code == 302
    assert measures.analyte("chloride").label == "Chloride"  # this process sees the change at once


def test_a_loinc_code_belongs_to_a_converted_unit_and_a_known_specimen():
    potassium = Analyte.objects.get(code="potassium")
    code = AnalyteLoinc(analyte=potassium, code="2823-3x", units="mg/dL", specimens="urine", source="x")
    with pytest.raises(ValidationError) as excinfo:
        code.full_clean()
    assert set(excinfo.value.message_dict) == {"code", "units", "specimens"}
    assert excinfo.value.message_dict["units"] == [
        "mg/dL is not a converted unit of Serum potassium; use mEq/L or mmol/L."
    ]


def test_the_admin_lists_the_analytes_with_units_codes_and_lab_counts():
    make_lab(make_case(), analyte="albumin", value=Decimal("3.1"), unit="g/dL")
    page = superuser().get("/admin/cases/analyte/").content.decode()
    for text in ("Serum potassium", "mEq/L ↔ mmol/L", "2823-3 (mmol/L, serum, plasma)", "none confirmed", "no bound"):
        assert text in page, text
    assert login("analyst").get("/admin/cases/analyte/").status_code == 200  # every role may read the table
    assert login("curator").get("/admin/cases/analyte/add/").status_code == 403  # administrators edit it


def test_the_vocabulary_endpoint_and_the_codebook_list_the_table():
    add_chloride()
    vocab = client_for("analyst").get("/api/v1/vocabularies/").json()["analyte"]
    codes = [a["code"] for a in vocab]
    assert codes[: len(measures.BUILTIN_ANALYTES)] == list(measures.BUILTIN_ANALYTES)
    assert codes[-4:] == ["potassium", "sodium", "egfr", "chloride"]  # an added analyte goes after the others
    potassium = next(a for a in vocab if a["code"] == "potassium")
    assert potassium["loinc"] == [{"code": "2823-3", "units": ["mmol/L"], "specimens": ["serum", "plasma"]}]
    from cases import tables

    columns = {(c["table"], c["column"]): c for c in tables.codebook()}
    assert "chloride" in {c["code"] for c in columns[("labs", "analyte")]["codes"]}
    assert "mL/min/1.73 m²" in {c["code"] for c in columns[("labs", "unit")]["codes"]}


def test_another_process_change_is_read_at_the_next_request_and_a_warm_registry_costs_no_query():
    measures.analytes()
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(3):
            measures.analytes()
    assert len(ctx.captured_queries) == 0
    # Another process adds an analyte: this one's copy is stale until the shared stamp says otherwise.
    stamp, data = analytes.snapshot()
    Analyte.objects.bulk_create(
        [Analyte(code="urea", label="Urea", conventional_unit="mg/dL", si_unit="mg/dL", si_factor=1)]
    )  # fmt: skip  (bulk_create sends no signal: as elsewhere)
    analytes.restore((stamp, data))
    client = client_for("analyst")
    codes = {a["code"] for a in client.get("/api/v1/vocabularies/").json()["analyte"]}
    assert "urea" not in codes  # the stamp has not changed: no reload
    cache.set(analytes.STAMP_KEY, "changed elsewhere", timeout=None)
    codes = {a["code"] for a in client.get("/api/v1/vocabularies/").json()["analyte"]}
    assert "urea" in codes


def test_a_change_in_this_process_is_seen_at_once_and_the_stamp_moves_on_commit(django_capture_on_commit_callbacks):
    stamp = cache.get(analytes.STAMP_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        add_chloride()
        assert "chloride" in measures.analytes()
    assert cache.get(analytes.STAMP_KEY) != stamp


@pytest.mark.django_db(transaction=True)
def test_a_flushed_table_gets_its_seed_rows_again_and_an_edited_one_is_left_alone():
    analytes.seed(Analyte, AnalyteLoinc)  # an earlier transactional test may have left the table flushed
    Analyte.objects.filter(code="egfr").delete()
    analytes.reseed_emptied_table(sender=None)  # as after migrate: the table has rows, so nothing is added
    assert not Analyte.objects.filter(code="egfr").exists()
    # flush empties every table, then sends post_migrate (which reseeds); after some transactional tests in the
    # same run it does not, and the registry's load() seeds an empty table itself: either way the rows are back
    call_command("flush", interactive=False, verbosity=0)
    assert analytes.load()["calcium_total"] == measures.BUILTIN_ANALYTES["calcium_total"]
    assert Analyte.objects.count() == len(measures.BUILTIN_ANALYTES) + 3


def test_an_analyte_added_on_the_admin_page_is_offered_to_the_api_at_once():
    admin = superuser()
    assert admin.get("/admin/cases/analyte/add/").status_code == 200
    data = {
        "code": "ionized_magnesium",
        "label": "Ionized magnesium",
        "synonyms": "iMg",
        "position": "",
        "conventional_unit": "mg/dL",
        "si_unit": "mmol/L",
        "si_factor": "0.4114",
        "printed_units": "",
        "plausible_max": "",
        "sources": "test: factor as serum magnesium's",
        "loinc_codes-TOTAL_FORMS": 1,
        "loinc_codes-INITIAL_FORMS": 0,
        "loinc_codes-0-code": "",  # an empty extra row: no code is confirmed
        "loinc_codes-0-units": "",
        "loinc_codes-0-specimens": "",
        "loinc_codes-0-source": "",
        "loinc_codes-0-position": "0",
    }
    response = admin.post("/admin/cases/analyte/add/", data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert not AnalyteLoinc.objects.filter(analyte__code="ionized_magnesium").exists()
    response = post([{"analyte": "ionized_magnesium", "value": 1.2, "unit": "mg/dL"}])
    assert response.status_code == 201, response.json()
    assert response.json()["labs"][0]["si"]["value"] == 0.49  # 1.2 x 0.4114
    refused = post([{"analyte": "ionized_magnesium", "value": 1.2, "unit": "µmol/L"}])
    assert errors(refused) == {"labs[0].unit": "µmol/L is not a unit of ionized magnesium; use mg/dL or mmol/L."}
