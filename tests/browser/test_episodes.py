"""Issue 13, point 1: a case of two calcium-disorder episodes on the admin page: the later episode in its own
inline, each mechanism naming its episode in words; screenshots at 1280 and 390 px, no sideways scroll."""

from rest_framework.test import APIClient

from cases.models import Case
from tests.api.documents import make_document
from tests.browser.conftest import ARTIFACTS, log_in
from tests.factories import make_agent, make_user


def test_the_case_page_shows_the_later_episode_and_each_mechanisms_episode(page, live_server, roles, shoot):
    make_agent()
    curator = make_user("cur", "curator")
    client = APIClient()
    client.force_authenticate(curator)
    document = make_document(
        episodes=[
            {
                "disorder": "hypercalcemia",
                "sequence": 1,
                "mechanisms": [{"rank": 1, "code": "calcitriol_mediated", "certainty": "probable"}],
            },
            {
                "disorder": "hypocalcemia",
                "sequence": 5,
                "day": 20,
                "timing_text": "three weeks after the antiresorptive",
                "mechanisms": [
                    {"rank": 1, "code": "drug_related", "certainty": "probable", "suspect_agent": "test_drug"}
                ],
            },
        ],
    )
    for key in ("disorder", "mechanisms", "outcome"):
        document.pop(key)
    assert client.post("/api/v1/cases/", document, format="json").status_code == 201
    case = Case.objects.get()
    log_in(page, live_server, "cur")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), width
        page.locator("#episodes-heading").scroll_into_view_if_needed()
        shoot(page, f"case-episodes-{width}")
        for group in ("episodes", "mechanisms"):  # the two inlines, as a curator sees them
            page.locator(f"#{group}-group").screenshot(path=str(ARTIFACTS / f"case-episodes-{group}-{width}.png"))
    text = page.locator("#episodes-group").inner_text().lower()
    assert "later calcium-disorder episodes" in text
    assert page.locator("#id_episodes-0-disorder option:checked").inner_text() == "Hypocalcemia"
    chosen = [page.locator(f"#id_mechanisms-{n}-episode option:checked").inner_text() for n in range(2)]
    assert sorted(chosen) == ["1. Hypercalcemia", "2. Hypocalcemia"]
