"""Small make_* helpers that build valid rows; keyword arguments override any field."""

from decimal import Decimal

from cases.models import Agent, Case, Intervention, LabFollows, LabResult, Source
from cases.vocabularies import Disorder, InterventionCategory, SourceKind


def make_source(**fields) -> Source:
    defaults = {"kind": SourceKind.CASE_REPORT, "citation": "Doe J. A case. J Test. 2020.", "title": "A case"}
    return Source.objects.create(**{**defaults, **fields})


def make_case(**fields) -> Case:
    if "source" not in fields:
        fields["source"] = make_source()
    defaults = {"title": "Hypercalcemia in a test case", "disorder": Disorder.HYPERCALCEMIA}
    return Case.objects.create(**{**defaults, **fields})


def make_lab(case: Case, follows_intervention=None, follows_interventions=(), **fields) -> LabResult:
    """follows_intervention(s): the intervention(s) the lab follows (LabFollows rows)."""
    defaults = {"analyte": "calcium_total", "value": Decimal("12.0"), "unit": "mg/dL", "sequence": 1}
    lab = LabResult.objects.create(case=case, **{**defaults, **fields})
    followed = [*([follows_intervention] if follows_intervention is not None else []), *follows_interventions]
    for intervention in followed:
        LabFollows.objects.create(case=case, lab=lab, intervention=intervention)
    return lab


def make_agent(**fields) -> Agent:
    defaults = {"code": "test_drug", "name": "Test drug", "category": InterventionCategory.DRUG}
    return Agent.objects.create(**{**defaults, **fields})


def make_intervention(case: Case, **fields) -> Intervention:
    defaults = {
        "category": InterventionCategory.DRUG,
        "agent_text": "zoledronic acid",
        "intent": "calcium_directed",
        "sequence": 1,
    }
    return Intervention.objects.create(case=case, **{**defaults, **fields})


def make_user(username: str, role: str | None = None):
    """A staff user in one of the roles created by migration 0002 (curator, reviewer, analyst)."""
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache
