"""Four-eyes review: a reviewer cannot publish a case whose content they created or last edited (workflow
transitions are not edits), in the service, the API and the admin; REGISTRY_FOUR_EYES=0 turns it off."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.test import override_settings

from cases.models import Case
from cases.services import case_edit, case_transition
from tests.admin_pages import login, messages_of
from tests.api.documents import client_for, make_document
from tests.factories import make_case, make_source, make_user
from tests.test_settings import run_settings

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def edited_by(user, case: Case | None = None, **fields) -> Case:
    """The case (a new one if None) with its content changed by user through the edit service."""
    case = case or Case(source=make_source(), title="Edited case", disorder="hypercalcemia")
    fields = fields or {"summary": f"edited by {user.username}"}

    def change(c: Case) -> None:
        for name, value in fields.items():
            setattr(c, name, value)
        c.save()

    return case_edit(case=case, user=user, change=change).case


def test_a_reviewer_cannot_publish_a_case_they_created_or_last_edited():
    author, editor, other = (make_user(n, "reviewer") for n in ("author", "editor", "other"))
    case = edited_by(author)
    case_transition(case=case, name="submit", user=author)
    with pytest.raises(PermissionDenied, match="You created the content of CCR-.*another reviewer must publish"):
        case_transition(case=case, name="publish", user=author)
    case = edited_by(editor, Case.objects.get(pk=case.pk))  # an edit of a case in review keeps it in review
    assert (case.created_by, case.content_edited_by, case.status) == (author, editor, "in_review")
    with pytest.raises(PermissionDenied, match="You last edited the content"):
        case_transition(case=case, name="publish", user=editor)
    with pytest.raises(PermissionDenied, match="You created the content"):
        case_transition(case=case, name="publish", user=author)
    case_transition(case=case, name="publish", user=other)
    assert Case.objects.get(pk=case.pk).status == "published"


def test_workflow_transitions_are_not_edits():
    author, reviewer = make_user("author", "curator"), make_user("revi", "reviewer")
    case = edited_by(author)
    for name in ("submit", "send_back", "submit"):  # the reviewer moves it, never edits it
        case_transition(case=case, name=name, user=reviewer)
    case.refresh_from_db()
    assert (case.content_edited_by, case.updated_by) == (author, reviewer)
    case_transition(case=case, name="publish", user=reviewer)
    assert Case.objects.get(pk=case.pk).status == "published"


def test_other_transitions_stay_open_to_the_author():
    author = make_user("author", "reviewer")
    case = edited_by(author)
    case_transition(case=case, name="submit", user=author)
    case_transition(case=case, name="send_back", user=author)  # only publishing needs a second pair of eyes
    assert Case.objects.get(pk=case.pk).status == "draft"


@override_settings(REGISTRY_FOUR_EYES=False)
def test_a_one_person_installation_turns_it_off():
    author = make_user("author", "reviewer")
    case = edited_by(author)
    case_transition(case=case, name="submit", user=author)
    case_transition(case=case, name="publish", user=author)
    assert Case.objects.get(pk=case.pk).status == "published"


def test_the_setting_is_read_from_the_environment_and_a_bad_value_fails_loudly():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='registry.settings'; django.setup(); "
        "from django.conf import settings; print(settings.REGISTRY_FOUR_EYES)"
    )
    assert run_settings(code, SECRET_KEY="k").stdout.strip() == "True"  # on by default
    assert run_settings(code, SECRET_KEY="k", REGISTRY_FOUR_EYES="0").stdout.strip() == "False"
    bad = run_settings(code, SECRET_KEY="k", REGISTRY_FOUR_EYES="sometimes")
    assert bad.returncode != 0
    assert "REGISTRY_FOUR_EYES='sometimes' is not a boolean" in bad.stderr


def test_the_migration_takes_the_last_editor_from_the_history():
    author, reviewer = make_user("author", "curator"), make_user("revi", "reviewer")
    case = edited_by(author)
    case_transition(case=case, name="submit", user=reviewer)  # a later history record, by someone else
    Case.objects.filter(pk=case.pk).update(content_edited_by=None)  # as before the migration
    untouched = make_case()  # no history user (loaded from fixtures): stays unknown
    migration = importlib.import_module("cases.migrations.0009_case_content_edited_by_four_eyes")
    migration.content_edited_by_from_history(apps, None)
    assert Case.objects.get(pk=case.pk).content_edited_by == author
    assert Case.objects.get(pk=untouched.pk).content_edited_by is None


# --- API -------------------------------------------------------------------------------------------------


def test_the_api_refuses_a_self_publication_with_403_and_the_reason():
    author = client_for("reviewer", "author")
    created = author.post(CASES, make_document(), format="json")
    assert created.status_code == 201, created.content
    url = f"{CASES}{created.json()['id']}/"
    submitted = author.post(f"{url}transition/", {"name": "submit"}, format="json", HTTP_IF_MATCH='"v1"')
    assert submitted.status_code == 200
    refused = author.post(f"{url}transition/", {"name": "publish"}, format="json", HTTP_IF_MATCH='"v2"')
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": f"You created the content of {created.json()['id']}; another reviewer must publish it "
        "(four-eyes rule)."
    }
    assert Case.objects.get().status == "in_review"
    other = client_for("reviewer", "other")
    published = other.post(f"{url}transition/", {"name": "publish"}, format="json", HTTP_IF_MATCH='"v2"')
    assert published.status_code == 200
    assert published.json()["status"] == "published"


def test_the_api_edit_of_another_reviewer_makes_them_the_last_editor():
    author, editor = client_for("curator", "author"), client_for("reviewer", "editor")
    created = author.post(CASES, make_document(), format="json").json()
    url = f"{CASES}{created['id']}/"
    assert editor.patch(url, {"summary": "tidied"}, format="json", HTTP_IF_MATCH='"v1"').status_code == 200
    assert author.post(f"{url}transition/", {"name": "submit"}, format="json", HTTP_IF_MATCH='"v2"').status_code == 200
    refused = editor.post(f"{url}transition/", {"name": "publish"}, format="json", HTTP_IF_MATCH='"v3"')
    assert refused.status_code == 403
    assert "You last edited the content" in refused.json()["detail"]


# --- admin -----------------------------------------------------------------------------------------------


def test_the_admin_offers_publish_only_to_another_reviewer():
    author = login("reviewer", "author")
    case = edited_by(author.user)
    case_transition(case=case, name="submit", user=author.user)
    page = author.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert "/transition/send_back/" in page
    assert "/transition/publish/" not in page
    other = login("reviewer", "other")
    assert "/transition/publish/" in other.get(f"/admin/cases/case/{case.pk}/change/").content.decode()


def test_the_admin_button_and_action_refuse_a_self_publication_with_the_reason():
    author = login("reviewer", "author")
    case = edited_by(author.user)
    case_transition(case=case, name="submit", user=author.user)
    url = f"/admin/cases/case/{case.pk}/transition/publish/"
    response = author.post(url, {"version": case.version})
    assert ("error", f"{case.registry_id}: You created the content of {case.registry_id}; another reviewer must "
            "publish it (four-eyes rule).") in messages_of(response)  # fmt: skip
    response = author.post("/admin/cases/case/", {"action": "action_publish", "_selected_action": [case.pk]})
    assert any("four-eyes rule" in text for level, text in messages_of(response) if level == "error")
    assert Case.objects.get(pk=case.pk).status == "in_review"
    other = login("reviewer", "other")
    other.post("/admin/cases/case/", {"action": "action_publish", "_selected_action": [case.pk]})
    assert Case.objects.get(pk=case.pk).status == "published"
