"""The curators' admin, through Django's test client: changelist, case page, saving, workflow, history,
revert, import and export. (The browser scenarios are in tests/browser/.)"""

import json
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from cases import services
from cases.models import Case, LabFollows, LabResult
from tests.admin_pages import (
    case_form_data,
    login,
    make_case_with_rows,
    messages_of,
    posted_form,
)
from tests.factories import make_agent, make_case, make_intervention, make_lab, make_source

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/cases/case/"


def test_the_changelist_shows_site_mechanism_peak_and_grade(source_cases):
    response = login("curator").get(CHANGELIST)
    row = next(line for line in response.content.decode().splitlines() if "CCR-000001" in line)
    assert response.status_code == 200
    text = response.content.decode()
    assert '<td class="field-main_mechanism_label">Humoral (PTHrP)</td>' in text  # labels, not codes
    assert '<td class="field-tumor_site">Breast</td>' in text
    assert "humoral_pthrp" not in text.split('id="result_list"')[1].split("</table>")[0]
    assert ">16 mg/dL<" in text  # peak calcium of seed 000, with its unit
    assert ">grade 4<" in text
    assert row


def test_the_changelist_finds_a_case_by_its_registry_id(source_cases):
    curator = login("curator")
    for term in ("CCR-000002", "ccr-2", "CCR000002"):
        text = curator.get(CHANGELIST, {"q": term}).content.decode()
        assert "CCR-000002" in text and "CCR-000001" not in text and "CCR-000003" not in text, term


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(CHANGELIST).status_code == 200
    return len(ctx.captured_queries)


def test_the_changelist_query_count_does_not_grow_with_the_cases():
    client = login("reviewer")
    make_lab(make_case())
    one = changelist_queries(client)
    for n in range(49):
        make_lab(make_case(title=f"case {n}"))
    # Same for 1 and 50 cases: session and user, permissions, the counts, the page of cases with
    # tumor site and main mechanism as subqueries, and the agent filter's choices — never one per case.
    assert changelist_queries(client) == one


def test_search_finds_a_case_by_a_verbatim_quote(source_cases):
    response = login("curator").get(CHANGELIST, {"q": "lowest level, 8.7"})
    assert "CCR-000001" in response.content.decode()
    assert "CCR-000002" not in response.content.decode()


def test_the_case_page_shows_derived_measures_and_the_chart(source_cases):
    page = login("analyst").get("/admin/cases/case/1/change/").content.decode()
    assert "16 mg/dL = 3.99 mmol/L (calcium total)" in page
    assert "grade 4 — from calcium total, limits: reported range" in page
    assert "yes (days not given by the source)" in page
    # The chart's data for ECharts (drawn in the browser; tests/browser checks the drawing) and the library
    # served by the registry itself.
    data = json.loads(re.search(r'<script id="calcium-course-data" type="application/json">(.*?)</script>', page)[1])
    assert data["reference"]["source"] == "reported"
    assert data["reference"]["low"]["mg/dL"]["text"] == "8.9" and data["reference"]["high"]["mg/dL"]["text"] == "10.1"
    assert [p["low"]["mg/dL"]["text"] for p in data["series"][0]["points"]] == ["12", "10.6", "9.8", "8.7"]
    assert '<script src="/static/vendor/echarts/echarts.min.js" defer>' in page
    # Numbers as people write them, read-only (an analyst) and in the curator's inputs.
    assert '<div class="readonly">16</div>' in page and ".0000" not in page
    form = login("curator").get("/admin/cases/case/1/change/").content.decode()
    assert 'name="labs-0-value" value="12"' in form and ".0000" not in form


def test_the_case_page_and_changelist_show_a_censored_peak_and_ionized_grades():
    case = make_case(status="published")
    make_lab(case, value=Decimal("12"), sequence=1)
    make_lab(case, value=Decimal("15"), comparator=">", sequence=2)
    make_lab(
        case,
        analyte="calcium_ionized",
        value=Decimal("1.7"),
        unit="mmol/L",
        ref_low=Decimal("1.12"),
        ref_high=Decimal("1.32"),
        sequence=2,
    )
    case.refresh_derived()
    client = login("analyst")
    page = client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    # 15 x 0.2495 = 3.7425 -> 3.74 mmol/L
    assert "&gt;15 mg/dL = &gt;3.74 mmol/L (calcium total, censored)" in page
    assert "grade 4 — from calcium total, limits: default range; at least: the value is censored" in page
    # 1.7 mmol/L: ionized grade 3 (> 1.6 to 1.8)
    assert "CTCAE hypercalcemia (ionized peak)" in page
    assert "grade 3 — from calcium ionized, limits: reported range" in page
    assert "&gt;15 mg/dL<" in client.get(CHANGELIST).content.decode()


def test_saving_through_the_admin_records_the_curator_and_bumps_the_version(source_cases):
    curator = login("curator")
    case = make_case()
    response = curator.post(f"/admin/cases/case/{case.pk}/change/", case_form_data(case, title="Renamed"))
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.title, case.version, case.updated_by) == ("Renamed", 2, curator.user)
    assert case.history.latest().history_user == curator.user


def test_the_second_of_two_admin_edits_from_the_same_version_is_refused():
    first, second = login("curator", "first"), login("curator", "second")
    case = make_case()
    stale = case_form_data(case, title="second's title")
    assert first.post(f"/admin/cases/case/{case.pk}/change/", case_form_data(case, title="first's")).status_code == 302
    response = second.post(f"/admin/cases/case/{case.pk}/change/", stale)
    assert response.status_code == 200
    assert "Someone else saved this case while you were editing it" in response.content.decode()
    assert Case.objects.get().title == "first's"


def test_a_curators_edit_of_a_published_case_sends_it_back_to_review():
    case = make_case(status="published")
    login("curator").post(f"/admin/cases/case/{case.pk}/change/", case_form_data(case, title="Fixed typo"))
    assert Case.objects.get().status == "in_review"


def test_a_lab_in_the_wrong_unit_is_refused_with_the_row_named():
    case = make_case()
    data = case_form_data(
        case,
        **{
            "labs-TOTAL_FORMS": 1,
            "labs-0-analyte": "calcium_total",
            "labs-0-value": "12",
            "labs-0-unit": "pg/mL",
            "labs-0-sequence": 1,
            "labs-0-specimen": "not_reported",
        },
    )
    response = login("curator").post(f"/admin/cases/case/{case.pk}/change/", data)
    assert response.status_code == 200
    page = response.content.decode()
    message = (
        "Lab result 1 (Serum total calcium), Unit: pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L."
    )
    assert message in page  # the analyte by its label, not its code
    # ... in the summary at the top of the page, linked to the row, and the row marked
    top = page.index('<div class="error-summary"')
    assert f'<a href="#labs-0">{message}</a>' in page[top : page.index("</div>", top)]
    assert re.search(r'class="inline-related compact-row[^"]* row-has-errors"\s+id="labs-0"', page)
    assert LabResult.objects.count() == 0


def test_only_reviewers_are_offered_publish():
    make_case()
    curator_page = login("curator").get(CHANGELIST).content.decode()
    reviewer_page = login("reviewer").get(CHANGELIST).content.decode()
    assert 'value="action_submit"' in curator_page and 'value="action_publish"' not in curator_page
    assert 'value="action_publish"' in reviewer_page and 'value="action_retract"' in reviewer_page


def test_workflow_actions_move_cases_and_refuse_wrong_states():
    draft, published = make_case(), make_case(status="published")
    reviewer = login("reviewer")
    reviewer.post(CHANGELIST, {"action": "action_submit", "_selected_action": [draft.pk]})
    reviewer.post(CHANGELIST, {"action": "action_publish", "_selected_action": [draft.pk]})
    response = reviewer.post(CHANGELIST, {"action": "action_submit", "_selected_action": [published.pk]}, follow=True)
    assert Case.objects.get(pk=draft.pk).status == "published"
    assert "Cannot submit for review a case that is published" in response.content.decode()


def test_an_analyst_cannot_change_a_case():
    case = make_case(status="published")
    response = login("analyst").post(f"/admin/cases/case/{case.pk}/change/", case_form_data(case, title="x"))
    assert response.status_code == 403


def test_the_full_history_shows_who_changed_what_and_reverts(source_cases):
    curator, reviewer = login("curator"), login("reviewer")
    case = make_case()
    lab = make_lab(case, value=Decimal("12"))
    case.refresh_from_db()
    curator.post(
        f"/admin/cases/case/{case.pk}/change/",
        case_form_data(
            case,
            title="Curated title",
            **{
                "labs-TOTAL_FORMS": 1,
                "labs-INITIAL_FORMS": 1,
                "labs-0-id": lab.pk,
                "labs-0-case": case.pk,
                "labs-0-analyte": "calcium_total",
                "labs-0-value": "13.5",
                "labs-0-unit": "mg/dL",
                "labs-0-sequence": 1,
                "labs-0-specimen": "not_reported",
            },
        ),
    )
    history = reviewer.get(f"/admin/cases/case/{case.pk}/full-history/").content.decode()
    assert "curator" in history
    assert "<strong>title</strong>: Hypercalcemia in a test case → Curated title" in history
    assert "<strong>value</strong>: 12 → 13.5" in history  # numbers as people write them

    first_record = case.history.order_by("history_id").first()
    case.refresh_from_db()
    response = reviewer.post(
        f"/admin/cases/case/{case.pk}/revert/{first_record.history_id}/", {"version": case.version}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.title == "Hypercalcemia in a test case"
    assert list(case.labs.values_list("value", flat=True)) == [Decimal("12")]
    assert case.history.latest().history_user == reviewer.user


def test_the_full_history_names_related_rows_by_label_not_id():
    case = make_case()
    saline = make_intervention(case, agent_text="IV isotonic saline", sequence=1)
    lab = make_lab(case, value=Decimal("12"), sequence=2)
    link = LabFollows(case=case, lab=lab, intervention=saline)
    link._history_user = None
    link.save()
    reviewer = login("reviewer")
    history = reviewer.get(f"/admin/cases/case/{case.pk}/full-history/").content.decode()
    # A lab's link to an intervention it follows is a row of its own in the history, named by both labels.
    assert f"{lab} after {saline}" in history
    assert f"→ {saline.pk}<" not in history
    # The History button leads to the same, full history.
    response = reviewer.get(f"/admin/cases/case/{case.pk}/history/")
    assert response.status_code == 302 and response["Location"].endswith(f"/{case.pk}/full-history/")


def test_a_revert_to_a_state_that_breaks_todays_rules_is_refused_whole_with_a_message():
    case = make_case()
    lab = make_lab(case, analyte="albumin", value=Decimal("3.5"), unit="g/dL")
    case.save()
    target = case.history.latest().history_id  # the state with the albumin row
    # A row stored before a newer check: its history says albumin 35 g/dL (beyond the plausible 10 g/dL).
    LabResult.history.filter(id=lab.pk).update(value=Decimal("35"))
    case.save()  # a later change: the case is saved before its rows, as every write path does
    lab.value = Decimal("3.1")
    lab.save()
    case.refresh_from_db()
    reviewer = login("reviewer")
    response = reviewer.post(f"/admin/cases/case/{case.pk}/revert/{target}/", {"version": case.version})
    assert response.status_code == 302
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert "That state cannot be restored: its lab result Serum albumin 35 g/dL breaks a rule" in text
    assert "Nothing was reverted." in text
    lab.refresh_from_db()
    assert lab.value == Decimal("3.1")
    assert Case.objects.get(pk=case.pk).version == case.version


def test_export_then_import_recreates_equal_cases(source_cases):
    curator = login("curator")
    exported = curator.post(CHANGELIST, {"action": "export_json", "_selected_action": [1, 2, 3]})
    documents = json.loads(exported.content)
    assert [d["id"] for d in documents] == ["CCR-000001", "CCR-000002", "CCR-000003"]
    upload = SimpleUploadedFile("cases.json", exported.content, content_type="application/json")
    response = curator.post("/admin/cases/case/import/", {"file": upload, "confirm_duplicate": "1"})  # on purpose
    assert response.status_code == 302
    assert Case.objects.count() == 6

    def comparable(doc):
        drop = {"id", "status", "version", "created_at", "updated_at", "created_by", "updated_by"}
        doc = {k: v for k, v in doc.items() if k not in drop}
        for relation in ("tumors", "metastases", "mechanisms", "findings", "labs", "interventions"):
            doc[relation] = [{k: v for k, v in row.items() if k != "id"} for row in doc[relation]]
        doc["episodes"] = [  # issue 13, point 1: an episode and its mechanisms, without their ids
            {**{k: v for k, v in e.items() if k != "id"}, "mechanisms": [comparable_row(m) for m in e["mechanisms"]]}
            for e in doc["episodes"]
        ]
        return doc

    def comparable_row(row):
        return {k: v for k, v in row.items() if k != "id"}

    reimported = curator.post(CHANGELIST, {"action": "export_json", "_selected_action": [4, 5, 6]})
    assert [comparable(d) for d in json.loads(reimported.content)] == [comparable(d) for d in documents]
    assert set(Case.objects.filter(pk__gt=3).values_list("status", flat=True)) == {"draft"}


def test_an_import_with_one_bad_case_imports_nothing_and_says_why(source_cases):
    curator = login("curator")
    documents = json.loads(curator.post(CHANGELIST, {"action": "export_json", "_selected_action": [1, 3]}).content)
    documents[1]["labs"][0]["unit"] = "pg/mL"
    upload = SimpleUploadedFile("cases.json", json.dumps(documents).encode(), content_type="application/json")
    response = curator.post("/admin/cases/case/import/", {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "case 2 (Hypercalcemia with cervical spine metastases" in page
    assert "labs[0].unit: pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L." in page
    assert Case.objects.count() == 3


def test_export_csv_has_one_row_per_selected_case(source_cases):
    response = login("analyst").post(CHANGELIST, {"action": "export_csv", "_selected_action": [1, 2]})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("case_id,status,title")
    assert [line.split(",")[0] for line in lines[1:]] == ["CCR-000001", "CCR-000002"]


def test_curators_add_an_agent_without_a_code_change():
    curator = login("curator")
    response = curator.post(
        "/admin/cases/agent/add/",
        {
            "code": "gallium_nitrate",
            "name": "Gallium nitrate",
            "category": "drug",
            "drug_class": "other",
            "atc_code": "",
            "notes": "",
        },
    )
    assert response.status_code == 302
    assert (
        curator.get(
            "/admin/autocomplete/",
            {"term": "gall", "app_label": "cases", "model_name": "intervention", "field_name": "agent"},
        ).json()["results"][0]["text"]
        == "Gallium nitrate"
    )


def agent_form(agent, **changes) -> dict:
    fields = {name: getattr(agent, name) for name in ("code", "name", "category", "drug_class", "atc_code", "notes")}
    return {**fields, **changes}


def test_an_agent_shown_by_a_published_case_is_changed_by_reviewers_only_and_keeps_its_category():
    agent = make_agent(drug_class="other")
    make_intervention(make_case(status="published"), agent=agent, status="administered")
    url = f"/admin/cases/agent/{agent.pk}/change/"

    refused = login("curator").post(url, agent_form(agent, name="Renamed"))
    assert refused.status_code == 200
    assert "appears in 1 published case; only a reviewer can change it." in refused.content.decode()
    agent.refresh_from_db()
    assert agent.name == "Test drug"

    reviewer = login("reviewer")
    assert reviewer.post(url, agent_form(agent, name="Renamed")).status_code == 302
    agent.refresh_from_db()
    assert agent.name == "Renamed"
    recategorised = reviewer.post(url, agent_form(agent, category="procedure"))
    assert recategorised.status_code == 200
    assert "the category cannot change while they do" in recategorised.content.decode()
    agent.refresh_from_db()
    assert agent.category == "drug"


def test_the_history_revert_form_of_an_agent_follows_the_same_rules():
    agent = make_agent(drug_class="other", code="zol")
    first = agent.history.earliest().history_id
    agent.code = "zoledronic"
    agent.save()
    make_intervention(make_case(status="published"), agent=agent, status="administered")
    old = agent_form(agent, code="zol")

    refused = login("curator").post(f"/admin/cases/agent/{agent.pk}/history/{first}/", old)
    assert refused.status_code == 200
    assert "only a reviewer can change it" in refused.content.decode()
    refused = login("reviewer").post(f"/admin/cases/agent/{agent.pk}/history/{first}/", old)
    assert "it cannot change while they do" in refused.content.decode()
    agent.refresh_from_db()
    assert agent.code == "zoledronic"


def test_analysts_see_only_published_cases_in_the_admin():
    draft, in_review, published = (
        make_case(title="a draft"),
        make_case(status="in_review"),
        make_case(status="published", title="a published case"),
    )
    analyst = login("analyst")
    changelist = analyst.get(CHANGELIST).content.decode()
    assert "a published case" in changelist and "a draft" not in changelist
    for case in (draft, in_review):
        # The admin redirects a missing object to the admin index with a message: it does not exist for them.
        assert analyst.get(f"/admin/cases/case/{case.pk}/change/").status_code == 302
        assert analyst.get(f"/admin/cases/case/{case.pk}/full-history/").status_code == 404
    assert analyst.get(f"/admin/cases/case/{published.pk}/change/").status_code == 200
    assert login("curator").get(f"/admin/cases/case/{draft.pk}/change/").status_code == 200


# --- deleting: drafts and cases in review only, through services.case_delete ---


@pytest.mark.parametrize("status", ["published", "retracted"])
def test_a_published_or_retracted_case_cannot_be_deleted_from_its_page(status):
    case = make_case(status=status)
    reviewer = login("reviewer")
    assert reviewer.get(f"/admin/cases/case/{case.pk}/delete/").status_code == 403
    response = reviewer.post(f"/admin/cases/case/{case.pk}/delete/", {"post": "yes", "version": case.version})
    assert response.status_code == 403
    assert Case.objects.filter(pk=case.pk).exists()
    change_page = reviewer.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert f"/admin/cases/case/{case.pk}/delete/" not in change_page  # no Delete link either


def test_a_draft_deleted_from_its_page_is_deleted_by_its_curator_in_the_history():
    curator = login("curator")
    case = make_case()
    make_lab(case)
    page = curator.get(f"/admin/cases/case/{case.pk}/delete/").content.decode()
    assert f'name="version" value="{case.version}"' in page  # the version the confirmation showed
    response = curator.post(f"/admin/cases/case/{case.pk}/delete/", {"post": "yes", "version": case.version})
    assert response.status_code == 302
    assert not Case.objects.filter(pk=case.pk).exists()
    deletion = Case.history.filter(id=case.pk).latest()
    assert (deletion.history_type, deletion.history_user) == ("-", curator.user)


@pytest.mark.parametrize("posted", [{}, {"version": "abc"}, {"version": 1}])
def test_a_delete_confirmed_without_the_current_version_is_refused(posted):
    curator = login("curator")
    case = make_case()
    services.case_claim_version(case=case, expected_version=1)  # someone saved it: now version 2
    response = curator.post(f"/admin/cases/case/{case.pk}/delete/", {"post": "yes", **posted})
    assert response.status_code == 302
    assert response.url == f"/admin/cases/case/{case.pk}/change/"
    assert [level for level, _ in messages_of(response)] == ["error"]
    assert Case.objects.filter(pk=case.pk).exists()


def test_bulk_delete_deletes_drafts_and_cases_in_review_and_names_the_cases_it_keeps():
    reviewer = login("reviewer")
    draft, in_review = make_case(), make_case(status="in_review")
    published, retracted = make_case(status="published"), make_case(status="retracted")
    selected = [draft.pk, in_review.pk, published.pk, retracted.pk]

    confirmation = reviewer.post(CHANGELIST, {"action": "delete_selected", "_selected_action": selected})
    page = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert f'name="_selected_action" value="{draft.pk}"' in page
    assert f'name="_selected_action" value="{in_review.pk}"' in page
    assert f'name="_selected_action" value="{published.pk}"' not in page
    assert f"{published.registry_id} is published and cannot be deleted" in page
    assert f"{retracted.registry_id} is retracted and cannot be deleted" in page

    # Even when the confirmation is posted with them (a stale or crafted page), they are refused by name.
    response = reviewer.post(CHANGELIST, {"action": "delete_selected", "_selected_action": selected, "post": "yes"})
    assert response.status_code == 302
    assert set(Case.objects.values_list("pk", flat=True)) == {published.pk, retracted.pk}
    messages = messages_of(response)
    assert ("success", f"Deleted 2 case(s): {draft.registry_id}, {in_review.registry_id}.") in messages
    assert [text for level, text in messages if level == "error"] == [
        f"{published.registry_id}: A published case cannot be deleted; retract it.",
        f"{retracted.registry_id}: A retracted case cannot be deleted; it stays in the registry as retracted.",
    ]
    assert Case.history.filter(id=draft.pk, history_type="-").get().history_user == reviewer.user


def test_bulk_delete_of_only_published_cases_shows_no_confirmation():
    published = make_case(status="published")
    response = login("reviewer").post(CHANGELIST, {"action": "delete_selected", "_selected_action": [published.pk]})
    assert response.status_code == 302
    assert Case.objects.filter(pk=published.pk).exists()


# --- versions on every admin write path ---


def test_a_bulk_transition_refuses_a_case_changed_after_it_was_read(monkeypatch):
    reviewer = login("reviewer")
    raced, other = make_case(status="in_review"), make_case(status="in_review")
    claim = services.case_claim_version

    def someone_saves_first(*, case, expected_version):
        if case.pk == raced.pk:  # as if a curator's edit committed between the action's read and its claim
            Case.objects.filter(pk=case.pk).update(version=F("version") + 1)
        claim(case=case, expected_version=expected_version)

    monkeypatch.setattr(services, "case_claim_version", someone_saves_first)
    response = reviewer.post(CHANGELIST, {"action": "action_publish", "_selected_action": [raced.pk, other.pk]})
    assert Case.objects.get(pk=raced.pk).status == "in_review"  # not published over the other edit
    assert Case.objects.get(pk=other.pk).status == "published"  # and the conflict did not undo the other case
    errors = [text for level, text in messages_of(response) if level == "error"]
    assert errors == [
        f"{raced.registry_id}: Case {raced.registry_id} was changed by someone else (you edited version 1, "
        "it is now version 2). Reload it and apply your change again."
    ]


@pytest.mark.parametrize("posted", [{}, {"version": "abc"}])
def test_a_revert_without_a_readable_version_is_refused_with_a_message(posted):
    reviewer = login("reviewer")
    case = make_case()
    first = case.history.get()
    reviewer.post(f"/admin/cases/case/{case.pk}/change/", case_form_data(case, title="Curated title"))
    history = reviewer.get(f"/admin/cases/case/{case.pk}/full-history/").content.decode()
    assert 'name="version" value="2"' in history  # the page posts the version it shows

    response = reviewer.post(f"/admin/cases/case/{case.pk}/revert/{first.history_id}/", posted)
    assert response.status_code == 302
    assert [level for level, _ in messages_of(response)] == ["error"]
    assert Case.objects.get(pk=case.pk).title == "Curated title"


def test_a_change_posted_without_the_edited_version_is_refused():
    case = make_case()
    data = case_form_data(case, title="Renamed")
    del data["edited_version"]
    response = login("curator").post(f"/admin/cases/case/{case.pk}/change/", data)
    assert response.status_code == 200
    assert "This form did not say which version of the case you started from" in response.content.decode()
    assert (Case.objects.get().title, Case.objects.get().version) == ("Hypercalcemia in a test case", 1)


def test_a_case_is_added_without_an_edited_version():
    curator = login("curator")
    source = make_source()  # not an existing case's: that would be a likely duplicate
    data = case_form_data(Case(source=source, title="New case", disorder="hypercalcemia"))
    del data["edited_version"]
    response = curator.post("/admin/cases/case/add/", data)
    assert response.status_code == 302
    assert Case.objects.get(title="New case").created_by == curator.user


# --- only a real change is an edit ---


@pytest.mark.parametrize("role", ["curator", "reviewer"])
def test_saving_an_unchanged_published_case_leaves_it_published(role):
    user = login(role)
    case = make_case_with_rows(2, status="published")
    url = f"/admin/cases/case/{case.pk}/change/"
    records = case.history.count()
    data = posted_form(user, url)
    agent = str(case.interventions.first().agent_id)
    assert data["interventions-1-agent"] == data["mechanisms-0-suspect_agent"] == agent  # posted back as shown
    response = user.post(url, data)
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.version, case.history.count()) == ("published", 1, records)
    assert messages_of(response) == [("info", f"Nothing was changed: {case} stays as it was (version 1).")]


def test_changing_only_a_lab_of_a_published_case_sends_it_back_to_review():
    curator = login("curator")
    case = make_case_with_rows(2, status="published")
    url = f"/admin/cases/case/{case.pk}/change/"
    data = posted_form(curator, url)
    assert data["labs-0-value"] == "12.0000" or Decimal(data["labs-0-value"]) == 12
    data["labs-0-value"] = "13.5"
    assert curator.post(url, data).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.version) == ("in_review", 2)
    assert case.labs.order_by("sequence").first().value == Decimal("13.5")


# --- query counts do not grow with the rows ---


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_case_page_query_count_does_not_grow_with_its_rows():
    reviewer = login("reviewer")
    one, twenty = make_case_with_rows(1), make_case_with_rows(20)
    page_queries(reviewer, f"/admin/cases/case/{one.pk}/change/")  # warm the content-type cache
    # Same for 1 and 20 interventions and labs: session, user and permissions; the case; each inline's rows
    # (interventions and mechanisms with their agent); the case's interventions once for every lab's
    # "follows intervention" select; the source's label; the derived-measures panel and chart reading the
    # rows — never one per row (no agent per intervention or mechanism, no interventions per lab).
    assert page_queries(reviewer, f"/admin/cases/case/{twenty.pk}/change/") == page_queries(
        reviewer, f"/admin/cases/case/{one.pk}/change/"
    )
    page = reviewer.get(f"/admin/cases/case/{twenty.pk}/change/").content.decode()
    selected = re.findall(r'name="interventions-\d+-agent".*?<option value="\d+" selected>([^<]*)</option>', page, re.S)
    assert selected == ["Drug 20"] * 20  # each row's agent still shown, without a query of its own


def test_the_full_history_query_count_does_not_grow_with_its_rows():
    reviewer = login("reviewer")
    one, twenty = make_case_with_rows(1), make_case_with_rows(20)
    # 13 for 1 and 20 interventions and labs: session, user, 2 x permissions, the case, then the records of the
    # case and of each of the six kinds of row (intervention records with their agent) and of the labs' links to
    # interventions and of the interventions' dose steps (issue 13: two more, the links with their lab and
    # intervention) — labels are built from the records, not by reading the current rows or agents once per record.
    # Issue 13, point 1: the episodes' records too (14 -> 15). Issue 16: the permissions in one query (15 -> 14,
    # registry.auth_backends).
    assert page_queries(reviewer, f"/admin/cases/case/{one.pk}/full-history/") == 14
    assert page_queries(reviewer, f"/admin/cases/case/{twenty.pk}/full-history/") == 14


def test_a_mechanism_that_contradicts_the_disorder_is_refused_with_the_row_named():
    """Issue 13, point 13, in the admin: the disorder on the form is the one checked."""
    case = make_case()
    mechanism = {
        "mechanisms-TOTAL_FORMS": 1,
        "mechanisms-0-rank": 1,
        "mechanisms-0-code": "calcitriol_mediated",
        "mechanisms-0-certainty": "probable",
    }
    response = login("curator").post(
        f"/admin/cases/case/{case.pk}/change/", case_form_data(case, disorder="hypocalcemia", **mechanism)
    )
    assert response.status_code == 200
    assert (  # the summary at the top names the row by its label
        "Mechanism 1 (Calcitriol-mediated (1,25-(OH)2 D)), Mechanism: Calcitriol-mediated (1,25-(OH)2 D) explains "
        "hypercalcemia, not hypocalcemia" in response.content.decode()
    )
    assert case.mechanisms.count() == 0
    # on the hypercalcemia case it fits
    response = login("curator", "curator-2").post(
        f"/admin/cases/case/{case.pk}/change/", case_form_data(case, **mechanism)
    )
    assert response.status_code == 302
    assert case.mechanisms.get().code == "calcitriol_mediated"
