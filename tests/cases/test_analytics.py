"""cases.analytics details not visible through the API cohort tests."""

import pytest

from cases import analytics
from cases.models import Case
from tests.factories import make_agent, make_case, make_intervention

pytestmark = pytest.mark.django_db


def test_agents_without_a_class_and_uncoded_interventions_share_one_no_class_group():
    case = make_case()
    classless = make_agent(code="mystery", name="Mystery drug", drug_class="")
    make_intervention(case, agent=classless, sequence=1)
    make_intervention(case, agent=None, agent_text="adjuvant chemotherapy", sequence=2)
    make_intervention(
        case,
        agent=make_agent(code="zol", name="Zoledronic acid", drug_class="bisphosphonate", atc_code="M05BA08"),
        sequence=3,
    )
    table = analytics.intervention_table(Case.objects.all(), "drug_class")
    # One row per class, the "no class" group (null) last on either database.
    assert [(row["key"], row["administered"]) for row in table] == [("bisphosphonate", 1), (None, 2)]
