"""The data model's absolute rules: named database constraints, mirrored by clean() messages."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cases import measures
from cases.models import Case, LabFollows, LabResult, Mechanism, Tumor, deidentified_age
from cases.vocabularies import MechanismCode, ReceptorStatus
from tests.factories import make_agent, make_case, make_intervention, make_lab, make_source

pytestmark = pytest.mark.django_db


def violates(constraint_name: str):
    """The statement inside raises an IntegrityError naming this constraint (PostgreSQL and SQLite both name it)."""
    return pytest.raises(IntegrityError, match=constraint_name)


@pytest.mark.parametrize("age", [91, 121])
def test_database_refuses_an_age_that_was_not_deidentified(age):
    case = make_case()
    with violates("case_age_years_0_to_90_plus"), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(age_years=age)


def test_database_accepts_0_and_90_plus():
    case = make_case()
    for age in (0, 90):
        Case.objects.filter(pk=case.pk).update(age_years=age)


def test_clean_stores_ages_over_89_as_90_plus():
    case = make_case()
    case.age_years = 97
    case.full_clean()
    assert case.age_years == 90
    assert case.age_is_90_or_over
    assert deidentified_age(89) == 89


def test_clean_explains_an_impossible_age():
    case = make_case()
    case.age_years = 130
    with pytest.raises(ValidationError) as excinfo:
        case.full_clean()
    assert excinfo.value.message_dict["age_years"] == ["Age must be between 0 and 120 years."]


def test_it_rejects_calcium_in_pg_per_ml_when_validated():
    # The analyte table is edited in the admin, so the unit is checked by clean() against it, not by the database.
    lab = LabResult(case=make_case(), analyte="calcium_total", value=Decimal("12"), unit="pg/mL")
    with pytest.raises(ValidationError) as excinfo:
        lab.full_clean()
    assert list(excinfo.value.message_dict) == ["unit"]


def test_an_analyte_not_in_the_table_is_refused():
    lab = LabResult(case=make_case(), analyte="potassium_typo", value=Decimal("4"), unit="mmol/L")
    with pytest.raises(ValidationError) as excinfo:
        lab.full_clean()
    assert excinfo.value.message_dict["analyte"] == [
        "Unknown analyte 'potassium_typo': use a code of the analyte table."
    ]


def test_it_rejects_calcium_in_pg_per_ml_with_a_message_naming_the_units():
    lab = LabResult(case=make_case(), analyte="calcium_total", value=Decimal("12"), unit="pg/mL")
    with pytest.raises(ValidationError) as excinfo:
        lab.full_clean()
    assert "pg/mL is not a unit of serum total calcium; use mg/dL or mmol/L." in excinfo.value.message_dict["unit"]


def test_a_value_needs_a_unit():
    lab = LabResult(case=make_case(), analyte="pth_intact", value=Decimal("15.1"), unit="")
    with pytest.raises(ValidationError) as excinfo:
        lab.full_clean()
    assert excinfo.value.message_dict["unit"] == ["Enter the unit (pg/mL or pmol/L), or tick 'unit not reported'."]


def test_a_lab_needs_a_value_or_a_qualitative_result():
    case = make_case()
    with violates("labresult_value_or_qualitative"), transaction.atomic():
        make_lab(case, value=None, unit="")


def test_a_qualitative_result_alone_is_enough():
    lab = make_lab(make_case(), analyte="pthrp", value=None, unit="", qualitative="high")
    lab.full_clean()
    assert lab.display_value == "High / elevated"


def test_the_high_end_of_a_range_may_not_be_below_the_low_end():
    case = make_case()
    with violates("labresult_value_high_not_below_value"), transaction.atomic():
        make_lab(case, value=Decimal("16"), value_high=Decimal("12"))


def test_a_reported_range_is_kept_as_reported():
    lab = make_lab(
        make_case(), value=Decimal("12"), value_high=Decimal("16"), ref_low=Decimal("8.9"), ref_high=Decimal("10.1")
    )
    lab.refresh_from_db()
    assert lab.display_value == "12–16 mg/dL"
    assert lab.interpretation().flag == measures.HIGH


def test_reference_low_may_not_exceed_reference_high():
    case = make_case()
    with violates("labresult_ref_low_not_above_ref_high"), transaction.atomic():
        make_lab(case, ref_low=Decimal("10.1"), ref_high=Decimal("8.9"))


def test_a_censored_value_cannot_be_a_range():
    case = make_case()
    with violates("labresult_censored_is_single_value"), transaction.atomic():
        make_lab(case, comparator="<", value=Decimal("5"), value_high=Decimal("6"))


def test_concentrations_cannot_be_negative():
    case = make_case()
    with violates("labresult_values_not_negative"), transaction.atomic():
        make_lab(case, value=Decimal("-1"))


@pytest.mark.parametrize(
    ("field", "analyte", "number", "unit"),
    [
        ("value", "albumin", "35", "g/dL"),  # albumin typed in g/L, labelled g/dL
        ("value_high", "calcium_total", "120", "mg/dL"),
        ("ref_high", "calcium_total", "10", "mmol/L"),  # 40 mg/dL = 9.98 mmol/L is the most calcium accepted
        ("ref_low", "creatinine", "9000", "µmol/L"),  # 100 mg/dL = 8840 µmol/L
    ],
)
def test_numbers_beyond_what_the_analyte_can_be_are_refused(field, analyte, number, unit):
    case = make_case()
    values = {"value": Decimal("1"), field: Decimal(number)} if field != "value" else {field: Decimal(number)}
    lab = LabResult(case=case, analyte=analyte, unit=unit, **values)
    with pytest.raises(ValidationError) as excinfo:
        lab.full_clean()
    assert list(excinfo.value.message_dict) == [field]
    assert "is not a possible" in excinfo.value.message_dict[field][0]


def test_an_impossible_number_gets_a_message_naming_the_unit():
    lab = LabResult(case=make_case(), analyte="albumin", value=Decimal("35"), unit="g/dL")
    with pytest.raises(ValidationError) as excinfo:
        lab.full_clean()
    assert excinfo.value.message_dict["value"] == [
        "35 g/dL is not a possible serum albumin (at most 10 g/dL); check the number and its unit."
    ]


def test_the_plausible_maximum_itself_is_accepted():
    lab = make_lab(make_case(), analyte="calcium_total", value=Decimal("9.98"), unit="mmol/L")
    lab.full_clean()


def test_only_a_day_can_be_approximate():
    case = make_case()
    with violates("labresult_approximate_needs_day"), transaction.atomic():
        make_lab(case, day=None, day_is_approximate=True)


def test_a_lab_cannot_follow_another_cases_intervention():
    intervention = make_intervention(make_case())
    lab = make_lab(make_case(), value=Decimal("10"))
    with pytest.raises(ValidationError) as excinfo:
        LabFollows(case=lab.case, lab=lab, intervention=intervention).full_clean()
    assert excinfo.value.message_dict["intervention"] == ["The intervention belongs to another case."]


def test_hr_status_must_agree_with_er_and_pr():
    case = make_case()
    with violates("tumor_hr_positive_when_er_or_pr_positive"), transaction.atomic():
        Tumor.objects.create(case=case, site="breast", er=ReceptorStatus.POSITIVE)
    with violates("tumor_hr_negative_when_er_and_pr_negative"), transaction.atomic():
        Tumor.objects.create(case=case, site="breast", er=ReceptorStatus.NEGATIVE, pr=ReceptorStatus.NEGATIVE)


def test_hr_positive_without_er_pr_detail_is_representable():
    tumor = Tumor.objects.create(
        case=make_case(), site="breast", hormone_receptor=ReceptorStatus.POSITIVE, her2=ReceptorStatus.NEGATIVE
    )
    assert (tumor.er, tumor.pr, tumor.icdo3_topography) == ("unknown", "unknown", "C50.9")


def test_a_drug_related_mechanism_names_its_agent():
    case = make_case()
    with violates("mechanism_drug_related_names_agent"), transaction.atomic():
        Mechanism.objects.create(case=case, code=MechanismCode.DRUG_RELATED, certainty="probable")
    Mechanism.objects.create(
        case=case,
        code=MechanismCode.DRUG_RELATED,
        certainty="probable",
        suspect_agent=make_agent(),
        action_taken="drug_withdrawn",
        dechallenge="unknown",
        rechallenge="not_done",
    )


def test_drug_fields_belong_to_drug_related_mechanisms_only():
    case = make_case()
    with violates("mechanism_drug_fields_only_when_drug_related"), transaction.atomic():
        Mechanism.objects.create(case=case, code="humoral_pthrp", certainty="confirmed", action_taken="drug_withdrawn")


def test_a_recommendation_has_no_calcium_response():
    case = make_case()
    with violates("intervention_response_only_when_administered"), transaction.atomic():
        make_intervention(case, status="recommended", calcium_response="normalised")


def test_an_intervention_cannot_end_before_it_starts():
    case = make_case()
    with violates("intervention_end_not_before_start"), transaction.atomic():
        make_intervention(case, day=10, end_day=5)


def test_an_agent_must_match_the_intervention_category():
    procedure = make_agent(code="mastectomy", name="Mastectomy", category="procedure")
    intervention = make_intervention(make_case(), agent=procedure)
    with pytest.raises(ValidationError) as excinfo:
        intervention.full_clean()
    assert excinfo.value.message_dict["agent"] == ["Mastectomy is a procedure, not a drug."]


def test_procedures_carry_no_atc_code():
    with violates("agent_atc_only_for_drugs"), transaction.atomic():
        make_agent(code="excision", name="Excision", category="procedure", atc_code="M05BA08")


def test_a_doi_is_unique_but_many_sources_have_none():
    make_source(doi="10.1155/2013/871917")
    make_source(doi="")
    make_source(doi="")
    # PostgreSQL names the constraint; SQLite names the column.
    with violates("source_doi_unique|cases_source.doi"), transaction.atomic():
        make_source(doi="10.1155/2013/871917")


def test_a_case_summarises_its_calcium_course_from_its_rows():
    case = make_case()
    make_lab(
        case,
        value=Decimal("12"),
        value_high=Decimal("16"),
        ref_low=Decimal("8.9"),
        ref_high=Decimal("10.1"),
        sequence=1,
        day=0,
    )
    fluids = make_intervention(case, sequence=2, day=0)
    make_lab(
        case,
        value=Decimal("9.8"),
        ref_low=Decimal("8.9"),
        ref_high=Decimal("10.1"),
        sequence=3,
        day=4,
        follows_intervention=fluids,
    )
    summary = Case.objects.with_children().get(pk=case.pk).calcium_summary()
    assert summary.peak.mg_dl == Decimal("16.00")
    assert summary.peak_grade.grade == 4
    assert summary.normalisation.normalised is True
    assert summary.normalisation.days == 4


def test_a_hypocalcemia_case_is_not_normalised_by_a_value_under_the_default_upper_limit():
    case = make_case(disorder="hypocalcemia")
    make_lab(case, value=Decimal("5.8"), sequence=1)
    intervention = make_intervention(case, agent_text="calcium gluconate", sequence=2, status="administered")
    make_lab(case, value=Decimal("6.2"), sequence=3)
    case.refresh_derived()
    case.refresh_from_db()
    intervention.refresh_from_db()
    # only the default ULN (10.5 mg/dL) is known; 6.2 says nothing about the lower side
    assert case.calcium_normalised is None
    assert intervention.calcium_normal_after is None
    assert case.nadir_calcium_mg_dl == Decimal("5.80")


def test_a_censored_peak_is_cached_with_its_comparator():
    case = make_case()
    make_lab(case, value=Decimal("12"), sequence=1)
    make_lab(case, value=Decimal("15"), comparator=">", sequence=2)
    case.refresh_derived()
    case.refresh_from_db()
    assert (case.peak_calcium_comparator, case.peak_calcium_mg_dl, case.peak_ctcae_grade) == (">", Decimal("15"), 4)
    assert (case.nadir_calcium_comparator, case.nadir_calcium_mg_dl) == ("", Decimal("12"))
