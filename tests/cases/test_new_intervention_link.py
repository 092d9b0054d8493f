"""A lab can follow an intervention entered in the same save: the page names the new intervention's form by a
token ("new:interventions-1"), checked by the labs' formset and linked when the interventions are saved."""

from __future__ import annotations

import pytest

from tests.admin_pages import login, make_case_with_rows, posted_form

pytestmark = pytest.mark.django_db


def with_new_rows(data: dict, follows: str) -> dict:
    """The posted form with a copy of intervention 0 and of lab 0 added as new rows, the lab following `follows`."""
    data = dict(data)
    for prefix in ("interventions", "labs"):
        for name, value in list(data.items()):
            if name.startswith(f"{prefix}-0-") and not name.endswith(("-id", "-DELETE")):
                data[name.replace(f"{prefix}-0-", f"{prefix}-1-")] = value
        data[f"{prefix}-TOTAL_FORMS"] = "2"
    data["interventions-1-agent_text"] = "Zoledronic acid 4 mg"
    data["labs-1-sequence"] = "9"
    data["labs-1-follows"] = follows
    return data


def test_a_lab_follows_an_intervention_added_in_the_same_save():
    curator = login("curator")
    case = make_case_with_rows(1)
    url = f"/admin/cases/case/{case.pk}/change/"
    response = curator.post(url, with_new_rows(posted_form(curator, url), "new:interventions-1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    new_intervention = case.interventions.get(agent_text="Zoledronic acid 4 mg")
    new_lab = case.labs.get(sequence=9)
    assert list(new_lab.follows_interventions.all()) == [new_intervention]
    assert list(case.labs.exclude(pk=new_lab.pk).get().follows_interventions.all()) == [
        case.interventions.exclude(pk=new_intervention.pk).get()
    ]  # the old link kept


@pytest.mark.parametrize(
    "follows, delete, reason",
    [
        ("new:interventions-5", False, "The intervention it follows is not on the page any more."),
        ("new:interventions-1", True, "The intervention it follows is being deleted."),
        ("new:tumors-0", False, "Select a valid choice."),
    ],
)
def test_a_token_naming_no_intervention_of_the_save_is_refused_and_nothing_saved(follows, delete, reason):
    curator = login("curator")
    case = make_case_with_rows(1)
    url = f"/admin/cases/case/{case.pk}/change/"
    data = with_new_rows(posted_form(curator, url), follows)
    if delete:
        data["interventions-1-DELETE"] = "on"
    response = curator.post(url, data)
    assert response.status_code == 200  # the form again
    assert reason in response.content.decode()
    case.refresh_from_db()
    assert (case.version, case.labs.count(), case.interventions.count()) == (1, 1, 1)
