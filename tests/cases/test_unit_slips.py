"""The unit-slip guard (cases.unit_slips): a value typed in one unit but left on the analyte's other unit is a
warning to confirm, in the API (400 naming labs[i].value) and in the admin (a checkbox on top)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cases.models import Case
from cases.unit_slips import unit_slip
from tests.admin_pages import login, make_case_with_rows, posted_form
from tests.api.documents import client_for, make_document

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"
SLIP = (
    "3.11 mg/dL is at or below the critical value for serum total calcium (6.5 mg/dL);"
    " did you mean 3.11 mmol/L = 12.5 mg/dL?"
)


@pytest.mark.parametrize(
    "analyte, value, unit, slip",
    [
        ("calcium_total", "3.11", "mg/dL", SLIP),
        ("calcium_total", "4", "mg/dL", "did you mean 4 mmol/L = 16 mg/dL?"),  # seed 000's peak, in mmol/L
        ("calcium_corrected", "9.8", "mmol/L", "did you mean 9.8 mg/dL?"),  # a normal value left on mmol/L
        ("calcium_ionized", "1.2", "mg/dL", "did you mean 1.2 mmol/L?"),
        ("magnesium", "0.8", "mg/dL", "did you mean 0.8 mmol/L = 1.94 mg/dL?"),
        ("calcium_total", "16", "mg/dL", None),  # severe hypercalcemia (seed 000): 16 mmol/L is impossible
        ("calcium_total", "3.5", "mmol/L", None),  # severe hypercalcemia in SI: 3.5 mg/dL would be critical too
        ("calcium_total", "6.2", "mg/dL", None),  # hypocalcemia: 6.2 mmol/L (24.8 mg/dL) would be more critical
        ("calcium_total", "8.2", "mg/dL", None),  # within the critical limits
        ("calcium_total", "2.1", "mmol/L", None),
        ("albumin", "3.5", "g/L", None),  # not guarded: no named source for albumin's limits
    ],
)
def test_a_value_ordinary_only_in_the_other_unit_is_a_slip(analyte, value, unit, slip):
    message = unit_slip(analyte, Decimal(value), unit)
    if slip is None:
        assert message is None
    else:
        assert message is not None and message.endswith(slip)


def slipped_document(**overrides) -> dict:
    document = make_document(**overrides)
    document["labs"][1]["value"] = 3.11  # the second lab: 3.11 "mg/dL"
    return document


def test_the_api_refuses_a_slip_naming_the_field_and_accepts_it_confirmed():
    curator = client_for("curator")
    response = curator.post(CASES, slipped_document(), format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "labs[1].value",
            "reason": f'{SLIP} If this is right, send the case again with "labs[1].value" in its "confirm" list.',
        }
    ]
    assert not Case.objects.exists()
    response = curator.post(CASES, slipped_document(confirm=["labs[1].value"]), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["labs"][1]["value"] == 3.11


def test_the_admin_asks_to_confirm_a_slip_and_saves_once_ticked():
    curator = login("curator")
    case = make_case_with_rows(1)
    url = f"/admin/cases/case/{case.pk}/change/"
    data = {**posted_form(curator, url), "labs-0-value": "3.11", "labs-0-unit": "mg/dL"}
    response = curator.post(url, data)
    assert response.status_code == 200  # the form again, nothing saved
    page = response.content.decode()
    assert page.index("Please confirm") < page.index('name="title"')
    assert page.count(SLIP) == 1 and "(labs[0].value)" not in page  # once, naming the row in words
    assert 'value="labs[0].value">' in page and '<a href="#labs-0">Lab result 1 (Serum total calcium)</a>: ' in page
    case.refresh_from_db()
    assert case.version == 1
    response = curator.post(url, {**data, "confirm": "labs[0].value"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.version, case.labs.get().value) == (2, Decimal("3.11"))


def test_a_qualitative_only_lab_keeps_no_unit_in_the_admin_and_is_refused_one_in_the_api():
    curator = login("curator")
    case = make_case_with_rows(1)
    url = f"/admin/cases/case/{case.pk}/change/"
    data = posted_form(curator, url)
    # "elevated" with the unit the page preselected for the analyte, and no number
    data.update({"labs-0-value": "", "labs-0-ref_low": "", "labs-0-ref_high": "", "labs-0-qualitative": "high"})
    data["labs-0-unit"] = "mg/dL"
    response = curator.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    lab = case.labs.get()
    assert (lab.value, lab.qualitative, lab.unit) == (None, "high", "")

    document = make_document()
    document["labs"][0].update(value=None, ref_low=None, ref_high=None, qualitative="high")  # unit mg/dL kept
    response = client_for("curator", "api_curator").post(CASES, document, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "labs[0].unit",
            "reason": "A qualitative result (no number, no reference range) carries no unit: clear the unit.",
        }
    ]
