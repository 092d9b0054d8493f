"""A curator imports a paper from a RIS file in the admin; importing it again offers the existing source."""

from cases.models import Source
from tests.browser.conftest import log_in
from tests.cases.test_citations import ABSTRACT, RIS, TITLE
from tests.factories import make_user


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def test_a_curator_imports_a_citation_file(page, live_server, roles, shoot, tmp_path):
    make_user("curator1", "curator")
    ris = tmp_path / "paper.ris"
    ris.write_text(RIS, encoding="utf-8")
    log_in(page, live_server, "curator1")
    page.goto(f"{live_server.url}/admin/cases/source/")
    page.click("text=Import citation file")
    page.wait_for_selector("input[type=file]")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        assert no_sideways_scroll(page), width
        shoot(page, f"citation-import-{width}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.set_input_files("input[type=file]", str(ris))
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "Created source" in page.inner_text(".messagelist")
    source = Source.objects.get()
    assert (source.title, source.text, source.year) == (TITLE, ABSTRACT, 2013)
    shoot(page, "citation-import-created-1280")

    page.click("text=Import citation file")
    page.set_input_files("input[type=file]", str(ris))
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist")
    assert "already in the registry" in page.inner_text(".messagelist")
    assert Source.objects.count() == 1
    page.set_viewport_size({"width": 390, "height": 800})
    shoot(page, "citation-import-duplicate-390")


def test_the_source_and_agent_forms_show_the_new_fields(page, live_server, roles, shoot):
    from django.core.management import call_command

    from cases.models import Agent

    call_command("loaddata", "agents", verbosity=0)
    make_user("curator1", "curator")
    log_in(page, live_server, "curator1")
    agent = Agent.objects.get(code="doxorubicin")
    for path, name, label in [
        ("/admin/cases/source/add/", "source-add", "PMCID"),
        (f"/admin/cases/agent/{agent.pk}/change/", "agent-change", "Synonyms"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert label in page.inner_text("#content")
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 800})
            assert no_sideways_scroll(page), (path, width)
            shoot(page, f"{name}-{width}")
    assert page.input_value("textarea[name=synonyms]") == "adriamycin"
