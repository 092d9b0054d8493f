"""Tests for cases/measures.py (pure functions; no database).

Every expected value is worked out by hand in the comment beside it, from the facts in
/work/shared/docs/domain.md (conversion factors, Payne formulas, CTCAE v5.0 thresholds, worked examples).
"""

from decimal import Decimal as D

import pytest

from cases.measures import (
    ALBUMIN,
    BASIS_DEFAULT,
    BASIS_NONE,
    BASIS_QUALITATIVE,
    BASIS_REPORTED,
    CALCIUM_CORRECTED,
    CALCIUM_IONIZED,
    CALCIUM_TOTAL,
    HIGH,
    HYPER,
    HYPO,
    INDETERMINATE,
    LOW,
    NORMAL,
    Measurement,
    Treatment,
    UnitError,
    analyte,
    calcium_summary,
    convert,
    corrected_calcium,
    ctcae_grade,
    interpret,
    is_convertible,
    to_conventional,
    to_si,
    unit_is_valid,
)

SEED_000_LOW = D("8.9")
SEED_000_HIGH = D("10.1")


# --- Unit conversion: every analyte in domain.md's table, both ways -----------------------------------


@pytest.mark.parametrize(
    ("code", "conventional", "unit", "expected_si"),
    [
        # 10 x 0.2495 = 2.495 -> 2.50 (mmol/L, 2 places, half up)
        ("calcium_total", D("10"), "mg/dL", D("2.50")),
        # 4.8 x 0.2495 = 1.1976 -> 1.20
        ("calcium_ionized", D("4.8"), "mg/dL", D("1.20")),
        # 13.2 x 0.2495 = 3.2934 -> 3.29
        ("calcium_corrected", D("13.2"), "mg/dL", D("3.29")),
        # 2.5 x 10 = 25 -> 25.0 (g/L, 1 place)
        ("albumin", D("2.5"), "g/dL", D("25.0")),
        # 100 x 0.106 = 10.6 -> 10.60 (pmol/L, 2 places)
        ("pth_intact", D("100"), "pg/mL", D("10.60")),
        # 2.5 x 1 = 2.5 -> 2.50 (pmol/L is both units)
        ("pthrp", D("2.5"), "pmol/L", D("2.50")),
        # 20 x 2.496 = 49.92 -> 49.9 (nmol/L, 1 place)
        ("vitamin_d_25oh", D("20"), "ng/mL", D("49.9")),
        # 50 x 2.4 = 120 -> 120.00 (pmol/L, 2 places)
        ("vitamin_d_125oh2", D("50"), "pg/mL", D("120.00")),
        # 3.1 x 0.3229 = 1.00099 -> 1.00
        ("phosphate", D("3.1"), "mg/dL", D("1.00")),
        # 2.0 x 0.4114 = 0.8228 -> 0.82
        ("magnesium", D("2.0"), "mg/dL", D("0.82")),
        # 1.2 x 88.4 = 106.08 -> 106 (µmol/L, 0 places)
        ("creatinine", D("1.2"), "mg/dL", D("106")),
        # 120 x 1 = 120 -> 120 (U/L, 0 places)
        ("alkaline_phosphatase", D("120"), "U/L", D("120")),
    ],
)
def test_it_converts_a_conventional_value_to_si_rounded_for_the_si_unit(code, conventional, unit, expected_si):
    result = to_si(conventional, code, unit)
    assert result == expected_si
    # the rounding is to the SI unit's places, so the exponent must match too
    assert result.as_tuple().exponent == expected_si.as_tuple().exponent


@pytest.mark.parametrize(
    ("code", "si", "unit", "expected_conventional"),
    [
        # 2.5 / 0.2495 = 10.02004... -> 10.02 (mg/dL, 2 places)
        ("calcium_total", D("2.5"), "mmol/L", D("10.02")),
        # 1.2 / 0.2495 = 4.80962... -> 4.81
        ("calcium_ionized", D("1.2"), "mmol/L", D("4.81")),
        # 3.30 / 0.2495 = 13.22645... -> 13.23
        ("calcium_corrected", D("3.30"), "mmol/L", D("13.23")),
        # 35 / 10 = 3.5 -> 3.50 (g/dL, 2 places)
        ("albumin", D("35"), "g/L", D("3.50")),
        # 5.3 / 0.106 = 50 -> 50.0 (pg/mL, 1 place)
        ("pth_intact", D("5.3"), "pmol/L", D("50.0")),
        # 4 / 1 = 4 -> 4.00 (pmol/L, 2 places)
        ("pthrp", D("4"), "pmol/L", D("4.00")),
        # 50 / 2.496 = 20.03205... -> 20.0 (ng/mL, 1 place)
        ("vitamin_d_25oh", D("50"), "nmol/L", D("20.0")),
        # 120 / 2.4 = 50 -> 50.0 (pg/mL, 1 place)
        ("vitamin_d_125oh2", D("120"), "pmol/L", D("50.0")),
        # 1.0 / 0.3229 = 3.09693... -> 3.10
        ("phosphate", D("1.0"), "mmol/L", D("3.10")),
        # 0.85 / 0.4114 = 2.06611... -> 2.07
        ("magnesium", D("0.85"), "mmol/L", D("2.07")),
        # 88 / 88.4 = 0.99547... -> 1.00
        ("creatinine", D("88"), "µmol/L", D("1.00")),
        # 75 / 1 = 75 -> 75 (U/L, 0 places)
        ("alkaline_phosphatase", D("75"), "U/L", D("75")),
    ],
)
def test_it_converts_an_si_value_to_conventional_rounded_for_the_conventional_unit(
    code, si, unit, expected_conventional
):
    result = to_conventional(si, code, unit)
    assert result == expected_conventional
    assert result.as_tuple().exponent == expected_conventional.as_tuple().exponent


def test_it_rounds_an_exact_half_up_not_to_even():
    # 24.25 g/L / 10 = 2.425 g/dL exactly; half up -> 2.43 (half to even would give 2.42)
    assert to_conventional(D("24.25"), ALBUMIN, "g/L") == D("2.43")


def test_it_keeps_the_unrounded_value_in_convert():
    # 16 x 0.2495 = 3.992 exactly (no rounding in convert)
    assert convert(D("16"), CALCIUM_TOTAL, "mg/dL", "mmol/L") == D("3.992")


def test_it_returns_a_value_unchanged_when_converting_to_its_own_unit():
    # mg/dL -> mg/dL: no factor applied; 9.8 -> 9.80 after rounding to 2 places
    assert to_conventional(D("9.8"), CALCIUM_TOTAL, "mg/dL") == D("9.80")


def test_it_rejects_calcium_in_pg_ml_with_a_unit_error():
    with pytest.raises(UnitError):
        to_si(D("10"), CALCIUM_TOTAL, "pg/mL")
    with pytest.raises(UnitError):
        to_conventional(D("10"), CALCIUM_TOTAL, "pg/mL")
    with pytest.raises(UnitError):
        convert(D("10"), CALCIUM_TOTAL, "mg/dL", "pg/mL")


def test_it_rejects_an_si_unit_of_another_analyte():
    # µmol/L belongs to creatinine, not to albumin
    with pytest.raises(UnitError):
        to_conventional(D("40"), ALBUMIN, "µmol/L")


def test_it_says_which_units_are_valid_for_an_analyte():
    assert unit_is_valid(CALCIUM_TOTAL, "mg/dL") is True
    assert unit_is_valid(CALCIUM_TOTAL, "mmol/L") is True
    assert unit_is_valid(CALCIUM_TOTAL, "pg/mL") is False
    assert unit_is_valid(ALBUMIN, "g/L") is True
    assert unit_is_valid(ALBUMIN, "mg/dL") is False
    assert unit_is_valid("creatinine", "µmol/L") is True
    assert unit_is_valid("pthrp", "pmol/L") is True
    assert unit_is_valid("pthrp", "pg/mL") is True  # stored as printed (domain.md), never converted
    assert is_convertible("pthrp", "pg/mL") is False
    assert unit_is_valid("pth_intact", "ng/mL") is False
    assert unit_is_valid("alkaline_phosphatase", "U/L") is True
    assert unit_is_valid("not_an_analyte", "mg/dL") is False


def test_it_rejects_an_unknown_analyte():
    with pytest.raises(ValueError):
        analyte("not_an_analyte")


# --- LOINC ---------------------------------------------------------------------------------------------


def test_it_gives_the_total_calcium_mass_code_only_for_mg_dl():
    # domain.md: 17861-6 (mass) -> mg/dL only
    assert analyte(CALCIUM_TOTAL).loinc_for("mg/dL") == "17861-6"
    assert analyte(CALCIUM_TOTAL).loinc_for("mmol/L") is None


def test_it_gives_the_corrected_calcium_moles_code_only_for_mmol_l():
    # domain.md: 29265-6 (moles); mass code unconfirmed -> None
    assert analyte(CALCIUM_CORRECTED).loinc_for("mmol/L") == "29265-6"
    assert analyte(CALCIUM_CORRECTED).loinc_for("mg/dL") is None


def test_it_gives_the_ionized_calcium_code_by_specimen():
    # domain.md: 1994-3 (blood), 1995-0 (serum/plasma)
    assert analyte(CALCIUM_IONIZED).loinc_for("mmol/L", specimen="blood") == "1994-3"
    assert analyte(CALCIUM_IONIZED).loinc_for("mmol/L", specimen="serum") == "1995-0"
    # both are [Moles/volume] codes: a value in mg/dL carries none
    assert analyte(CALCIUM_IONIZED).loinc_for("mg/dL", specimen="plasma") is None


def test_it_gives_the_albumin_code_for_either_unit():
    # domain.md: 1751-7, no property restriction
    assert analyte(ALBUMIN).loinc_for("g/dL") == "1751-7"
    assert analyte(ALBUMIN).loinc_for("g/L") == "1751-7"


# --- Payne-corrected calcium ---------------------------------------------------------------------------


def test_it_corrects_calcium_in_mg_dl_with_albumin_in_g_dl():
    # 12.0 + 0.8 x (4.0 - 2.5) = 12.0 + 0.8 x 1.5 = 12.0 + 1.2 = 13.2
    assert corrected_calcium(D("12.0"), "mg/dL", D("2.5"), "g/dL") == D("13.2")


def test_it_corrects_calcium_in_mmol_l_with_albumin_in_g_l():
    # 3.00 + 0.02 x (40 - 25) = 3.00 + 0.02 x 15 = 3.00 + 0.30 = 3.30
    assert corrected_calcium(D("3.00"), "mmol/L", D("25"), "g/L") == D("3.30")


def test_it_converts_albumin_in_g_l_before_correcting_calcium_in_mg_dl():
    # 25 g/L / 10 = 2.5 g/dL; 12.0 + 0.8 x (4.0 - 2.5) = 13.2
    assert corrected_calcium(D("12.0"), "mg/dL", D("25"), "g/L") == D("13.2")


def test_it_converts_albumin_in_g_dl_before_correcting_calcium_in_mmol_l():
    # 2.5 g/dL x 10 = 25 g/L; 3.00 + 0.02 x (40 - 25) = 3.30
    assert corrected_calcium(D("3.00"), "mmol/L", D("2.5"), "g/dL") == D("3.30")


def test_it_lowers_calcium_when_albumin_is_above_4_g_dl():
    # 10.0 + 0.8 x (4.0 - 4.5) = 10.0 - 0.4 = 9.6
    assert corrected_calcium(D("10.0"), "mg/dL", D("4.5"), "g/dL") == D("9.6")


def test_it_leaves_calcium_unchanged_when_albumin_is_4_g_dl():
    # 9.5 + 0.8 x (4.0 - 4.0) = 9.5
    assert corrected_calcium(D("9.5"), "mg/dL", D("4.0"), "g/dL") == D("9.5")


def test_it_refuses_to_correct_calcium_in_a_foreign_unit():
    with pytest.raises(UnitError):
        corrected_calcium(D("10"), "pg/mL", D("2.5"), "g/dL")


# --- Interpretation ------------------------------------------------------------------------------------


def test_it_interprets_a_value_above_the_reported_range_as_high():
    # 10.6 > ULN 10.1 -> high
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("10.6"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)
    assert result.flag == HIGH
    assert result.basis == BASIS_REPORTED
    assert (result.ref_low, result.ref_high, result.ref_unit) == (D("8.9"), D("10.1"), "mg/dL")


def test_it_interprets_a_value_below_the_reported_range_as_low():
    # 8.7 < LLN 8.9 -> low
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("8.7"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)
    assert result.flag == LOW
    assert result.basis == BASIS_REPORTED


def test_it_interprets_a_value_inside_the_reported_range_as_normal():
    # 8.9 <= 9.8 <= 10.1 -> normal
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("9.8"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)
    assert result.flag == NORMAL
    assert result.basis == BASIS_REPORTED


def test_it_interprets_values_exactly_on_the_reported_limits_as_normal():
    # 10.1 is not > 10.1 and 8.9 is not < 8.9 -> normal
    assert interpret(CALCIUM_TOTAL, "mg/dL", D("10.1"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH).flag == NORMAL
    assert interpret(CALCIUM_TOTAL, "mg/dL", D("8.9"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH).flag == NORMAL


def test_it_interprets_a_reported_range_of_12_to_16_against_8_9_to_10_1_as_high():
    # 12..16: high end 16 > 10.1, low end 12 is not < 8.9 -> high
    result = interpret(
        CALCIUM_TOTAL, "mg/dL", D("12"), value_high=D("16"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
    )
    assert result.flag == HIGH


def test_it_interprets_a_reported_range_crossing_both_limits_as_indeterminate():
    # 8..11: low end 8 < 8.9 and high end 11 > 10.1 -> indeterminate
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("8"), value_high=D("11"), ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)
    assert result.flag == INDETERMINATE


def test_it_interprets_less_than_5_with_lln_7_5_as_low():
    # "<5": every allowed value is < 5 < 7.5 -> low (intact PTH, seed 000 range 7.5-53.5 pg/mL)
    result = interpret("pth_intact", "pg/mL", D("5"), comparator="<", ref_low=D("7.5"), ref_high=D("53.5"))
    assert result.flag == LOW
    assert result.basis == BASIS_REPORTED


def test_it_interprets_less_than_5_with_lln_2_and_uln_10_as_indeterminate():
    # "<5": allowed values run from below 2 (low) to 4.9 (normal) -> cannot say
    result = interpret("pth_intact", "pg/mL", D("5"), comparator="<", ref_low=D("2"), ref_high=D("10"))
    assert result.flag == INDETERMINATE


def test_it_interprets_greater_than_a_value_above_the_uln_as_high():
    # ">14": every allowed value is > 14 > 10.1 -> high
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("14"), comparator=">", ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)
    assert result.flag == HIGH


def test_it_interprets_11_mg_dl_without_a_reported_range_as_high_against_the_default():
    # no range reported -> default ULN 10.5 mg/dL; 11 > 10.5 -> high, basis default_range
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("11"))
    assert result.flag == HIGH
    assert result.basis == BASIS_DEFAULT
    assert result.ref_high == D("10.5")
    assert result.ref_low is None


def test_it_interprets_11_mg_dl_given_in_mmol_l_as_high_against_the_converted_default():
    # 11 x 0.2495 = 2.7445 -> 2.74 mmol/L; default ULN 10.5 x 0.2495 = 2.61975 mmol/L; 2.74 > 2.61975 -> high
    result = interpret(CALCIUM_TOTAL, "mmol/L", D("2.74"))
    assert result.flag == HIGH
    assert result.basis == BASIS_DEFAULT
    assert result.ref_high == D("2.61975")
    assert result.ref_unit == "mmol/L"


def test_it_gives_no_flag_below_the_default_uln_because_no_default_lln_exists():
    # 9.8 <= 10.5 but no default lower limit -> neither normal nor low can be said
    result = interpret(CALCIUM_TOTAL, "mg/dL", D("9.8"))
    assert result.flag is None
    assert result.basis == BASIS_DEFAULT
    assert result.note


def test_it_gives_no_flag_for_an_analyte_with_no_default_and_no_range():
    # intact PTH has no default range in domain.md
    result = interpret("pth_intact", "pg/mL", D("40"))
    assert result.flag is None
    assert result.basis == BASIS_NONE


def test_it_interprets_a_qualitative_only_result_from_its_own_word():
    # no number; the source says "high"
    result = interpret("pthrp", "pmol/L", None, qualitative="high")
    assert result.flag == HIGH
    assert result.basis == BASIS_QUALITATIVE


def test_it_gives_no_flag_for_a_result_with_neither_number_nor_qualitative_word():
    result = interpret("pthrp", "pmol/L", None)
    assert result.flag is None
    assert result.basis == BASIS_NONE


# --- CTCAE v5.0 grades ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.1", 0),  # = ULN 10.1, not above -> 0
        ("10.2", 1),  # > ULN 10.1, <= 11.5 -> 1
        ("11.5", 1),  # on the 11.5 bound; grade 2 needs > 11.5 -> 1
        ("11.6", 2),  # > 11.5, <= 12.5 -> 2
        ("12.5", 2),  # on the 12.5 bound -> 2
        ("12.6", 3),  # > 12.5, <= 13.5 -> 3
        ("13.5", 3),  # on the 13.5 bound -> 3
        ("13.6", 4),  # > 13.5 -> 4
    ],
)
def test_it_grades_hypercalcemia_in_mg_dl_at_every_boundary(value, expected):
    grade = ctcae_grade(HYPER, CALCIUM_TOTAL, D(value), "mg/dL", uln=SEED_000_HIGH, lln=SEED_000_LOW)
    assert grade.grade == expected
    assert grade.direction == HYPER
    assert grade.basis == CALCIUM_TOTAL


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.9", 0),  # = LLN 8.9, not below -> 0
        ("8.8", 1),  # < LLN 8.9, >= 8.0 -> 1
        ("8.0", 1),  # on the 8.0 bound; grade 2 needs < 8.0 -> 1
        ("7.9", 2),  # < 8.0, >= 7.0 -> 2
        ("7.0", 2),  # on the 7.0 bound -> 2
        ("6.9", 3),  # < 7.0, >= 6.0 -> 3
        ("6.0", 3),  # on the 6.0 bound -> 3
        ("5.9", 4),  # < 6.0 -> 4
    ],
)
def test_it_grades_hypocalcemia_in_mg_dl_at_every_boundary(value, expected):
    grade = ctcae_grade(HYPO, CALCIUM_TOTAL, D(value), "mg/dL", uln=SEED_000_HIGH, lln=SEED_000_LOW)
    assert grade.grade == expected
    assert grade.direction == HYPO


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.55", 0),  # = ULN 2.55 -> 0
        ("2.56", 1),  # > ULN 2.55, <= 2.9 -> 1
        ("2.9", 1),  # on the 2.9 bound -> 1
        ("2.91", 2),  # > 2.9, <= 3.1 -> 2
        ("3.1", 2),  # on the 3.1 bound -> 2
        ("3.11", 3),  # > 3.1, <= 3.4 -> 3
        ("3.4", 3),  # on the 3.4 bound -> 3
        ("3.41", 4),  # > 3.4 -> 4
    ],
)
def test_it_grades_hypercalcemia_in_mmol_l_at_every_boundary(value, expected):
    grade = ctcae_grade(HYPER, CALCIUM_CORRECTED, D(value), "mmol/L", uln=D("2.55"), lln=D("2.15"))
    assert grade.grade == expected
    assert grade.basis == CALCIUM_CORRECTED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.15", 0),  # = LLN 2.15 -> 0
        ("2.14", 1),  # < LLN 2.15, >= 2.0 -> 1
        ("2.0", 1),  # on the 2.0 bound -> 1
        ("1.99", 2),  # < 2.0, >= 1.75 -> 2
        ("1.75", 2),  # on the 1.75 bound -> 2
        ("1.74", 3),  # < 1.75, >= 1.5 -> 3
        ("1.5", 3),  # on the 1.5 bound -> 3
        ("1.49", 4),  # < 1.5 -> 4
    ],
)
def test_it_grades_hypocalcemia_in_mmol_l_at_every_boundary(value, expected):
    grade = ctcae_grade(HYPO, CALCIUM_CORRECTED, D(value), "mmol/L", uln=D("2.55"), lln=D("2.15"))
    assert grade.grade == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.32", 0),  # = ULN 1.32 -> 0
        ("1.33", 1),  # > ULN 1.32, <= 1.5 -> 1
        ("1.5", 1),  # on the 1.5 bound -> 1
        ("1.51", 2),  # > 1.5, <= 1.6 -> 2
        ("1.6", 2),  # on the 1.6 bound -> 2
        ("1.61", 3),  # > 1.6, <= 1.8 -> 3
        ("1.8", 3),  # on the 1.8 bound -> 3
        ("1.81", 4),  # > 1.8 -> 4
    ],
)
def test_it_grades_ionized_hypercalcemia_on_its_own_scale_at_every_boundary(value, expected):
    grade = ctcae_grade(HYPER, CALCIUM_IONIZED, D(value), "mmol/L", uln=D("1.32"), lln=D("1.12"))
    assert grade.grade == expected
    assert grade.basis == CALCIUM_IONIZED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.12", 0),  # = LLN 1.12 -> 0
        ("1.11", 1),  # < LLN 1.12, >= 1.0 -> 1
        ("1.0", 1),  # on the 1.0 bound -> 1
        ("0.99", 2),  # < 1.0, >= 0.9 -> 2
        ("0.9", 2),  # on the 0.9 bound -> 2
        ("0.89", 3),  # < 0.9, >= 0.8 -> 3
        ("0.8", 3),  # on the 0.8 bound -> 3
        ("0.79", 4),  # < 0.8 -> 4
    ],
)
def test_it_grades_ionized_hypocalcemia_on_its_own_scale_at_every_boundary(value, expected):
    grade = ctcae_grade(HYPO, CALCIUM_IONIZED, D(value), "mmol/L", uln=D("1.32"), lln=D("1.12"))
    assert grade.grade == expected


def test_it_grades_ionized_calcium_given_in_mg_dl_on_the_mmol_l_scale():
    # 7.6 mg/dL x 0.2495 = 1.8962 mmol/L > 1.8 -> 4 (on the total-calcium mg/dL scale 7.6 would not be hyper)
    assert ctcae_grade(HYPER, CALCIUM_IONIZED, D("7.6"), "mg/dL").grade == 4
    # 6.2 mg/dL x 0.2495 = 1.5469 mmol/L: > 1.5, <= 1.6 -> 2
    assert ctcae_grade(HYPER, CALCIUM_IONIZED, D("6.2"), "mg/dL").grade == 2
    # 5.4 mg/dL x 0.2495 = 1.3473 mmol/L; ULN 5.3 mg/dL x 0.2495 = 1.32235 mmol/L; 1.3473 > 1.32235 -> 1
    assert ctcae_grade(HYPER, CALCIUM_IONIZED, D("5.4"), "mg/dL", uln=D("5.3")).grade == 1


def test_it_grades_none_when_the_upper_limit_needed_is_unknown():
    # 11 mg/dL is not > 11.5 so grade 1 vs 0 needs the ULN, which is not given
    grade = ctcae_grade(HYPER, CALCIUM_TOTAL, D("11"), "mg/dL")
    assert grade.grade is None
    assert grade.limit_basis == BASIS_NONE


def test_it_grades_none_when_the_lower_limit_needed_is_unknown():
    # 8.5 mg/dL is not < 8.0 so grade 1 vs 0 needs the LLN, which is not given
    grade = ctcae_grade(HYPO, CALCIUM_TOTAL, D("8.5"), "mg/dL", uln=SEED_000_HIGH)
    assert grade.grade is None
    assert grade.limit_basis == BASIS_NONE


def test_it_grades_above_11_5_mg_dl_without_any_limit():
    # 12.0 > 11.5, <= 12.5 -> 2 whatever the ULN
    assert ctcae_grade(HYPER, CALCIUM_TOTAL, D("12.0"), "mg/dL").grade == 2


def test_it_grades_seed_000_peak_of_16_mg_dl_as_grade_4():
    # 16 > 13.5 -> 4, by total calcium (no albumin reported)
    grade = ctcae_grade(HYPER, CALCIUM_TOTAL, D("16"), "mg/dL", uln=SEED_000_HIGH, lln=SEED_000_LOW)
    assert grade.grade == 4
    assert grade.basis == CALCIUM_TOTAL


def test_it_grades_seed_000_10_6_mg_dl_with_uln_10_1_as_grade_1():
    # 10.6 > 10.1 and <= 11.5 -> 1
    assert ctcae_grade(HYPER, CALCIUM_TOTAL, D("10.6"), "mg/dL", uln=SEED_000_HIGH).grade == 1


def test_it_grades_seed_000_9_8_mg_dl_as_grade_0():
    # 9.8 <= ULN 10.1 -> 0 (hyper); 9.8 >= LLN 8.9 -> 0 (hypo)
    assert ctcae_grade(HYPER, CALCIUM_TOTAL, D("9.8"), "mg/dL", uln=SEED_000_HIGH, lln=SEED_000_LOW).grade == 0
    assert ctcae_grade(HYPO, CALCIUM_TOTAL, D("9.8"), "mg/dL", uln=SEED_000_HIGH, lln=SEED_000_LOW).grade == 0


def test_it_grades_seed_002_11_mg_dl_as_grade_1_against_the_default_uln():
    # 11 > default ULN 10.5 and <= 11.5 -> 1
    grade = ctcae_grade(HYPER, CALCIUM_TOTAL, D("11"), "mg/dL", uln=D("10.5"), limit_basis=BASIS_DEFAULT)
    assert grade.grade == 1
    assert grade.limit_basis == BASIS_DEFAULT


def test_it_grades_seed_002_11_mg_dl_with_no_reported_range_as_grade_1_in_the_summary():
    # no range reported -> default ULN 10.5 mg/dL; 11 > 10.5, <= 11.5 -> 1
    summary = calcium_summary([Measurement("ca", CALCIUM_TOTAL, "mg/dL", D("11"), 1)], [])
    assert summary.peak_grade.grade == 1
    assert summary.peak_grade.limit_basis == BASIS_DEFAULT
    # no default LLN and 11 is not < 8.0 -> hypo grade cannot be said
    assert summary.nadir_grade.grade is None


def test_it_refuses_to_grade_a_non_calcium_analyte_or_a_foreign_unit():
    with pytest.raises(ValueError):
        ctcae_grade(HYPER, ALBUMIN, D("5"), "g/dL")
    with pytest.raises(UnitError):
        ctcae_grade(HYPER, CALCIUM_TOTAL, D("12"), "pg/mL")
    with pytest.raises(ValueError):
        ctcae_grade("sideways", CALCIUM_TOTAL, D("12"), "mg/dL")


# --- Per-case summary ----------------------------------------------------------------------------------


def _seed_000_labs(*, days=(0, None, None, None)):
    """Seed-000-like calcium course, all against the reported range 8.9-10.1 mg/dL."""
    return [
        Measurement(
            "ca-peak",
            CALCIUM_TOTAL,
            "mg/dL",
            D("12"),
            2,
            day=days[0],
            value_high=D("16"),
            ref_low=SEED_000_LOW,
            ref_high=SEED_000_HIGH,
        ),
        Measurement(
            "ca-10.6", CALCIUM_TOTAL, "mg/dL", D("10.6"), 5, day=days[1], ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
        ),
        Measurement(
            "ca-9.8", CALCIUM_TOTAL, "mg/dL", D("9.8"), 7, day=days[2], ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
        ),
        Measurement(
            "ca-8.7", CALCIUM_TOTAL, "mg/dL", D("8.7"), 8, day=days[3], ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
        ),
    ]


def _seed_000_treatments():
    return [
        Treatment("fluids-bisphosphonate", "calcium_directed", "administered", 3, start_day=0),
        Treatment("embolization-1", "cancer_directed", "administered", 4),
        Treatment("embolization-2", "cancer_directed", "administered", 6),
    ]


def test_it_takes_the_seed_000_peak_as_16_mg_dl_or_3_99_mmol_l_grade_4():
    summary = calcium_summary(_seed_000_labs(), _seed_000_treatments())
    # peak = high end of the 12-16 range = 16; 16 x 0.2495 = 3.992 -> 3.99 mmol/L
    assert summary.peak.measurement_id == "ca-peak"
    assert summary.peak.basis == CALCIUM_TOTAL
    assert summary.peak.mg_dl == D("16.00")
    assert summary.peak.mmol_l == D("3.99")
    assert summary.peak.day == 0
    # 16 > 13.5 -> 4, by total calcium, against the reported range
    assert summary.peak_grade.grade == 4
    assert summary.peak_grade.basis == CALCIUM_TOTAL
    assert summary.peak_grade.limit_basis == BASIS_REPORTED


def test_it_takes_the_seed_000_nadir_as_8_7_mg_dl_or_2_17_mmol_l():
    summary = calcium_summary(_seed_000_labs(), _seed_000_treatments())
    # nadir = 8.7 (the lowest low end: 12, 10.6, 9.8, 8.7); 8.7 x 0.2495 = 2.17065 -> 2.17 mmol/L
    assert summary.nadir.measurement_id == "ca-8.7"
    assert summary.nadir.mg_dl == D("8.70")
    assert summary.nadir.mmol_l == D("2.17")
    assert summary.nadir.day is None
    # 8.7 < LLN 8.9 and >= 8.0 -> hypo grade 1
    assert summary.nadir_grade.grade == 1
    assert summary.nadir_grade.direction == HYPO


def test_it_finds_seed_000_normalisation_at_the_9_8_lab_with_days_unknown():
    summary = calcium_summary(_seed_000_labs(), _seed_000_treatments())
    # after the calcium-directed treatment (seq 3): 10.6 (seq 5) > 10.1 is not normal; 9.8 (seq 7) is within 8.9-10.1
    norm = summary.normalisation
    # issue 13, point 11: credited to the last intervention before 9.8 (the second embolization), not to the first
    # calcium-directed one, whose own effect (no value before the embolizations) cannot be told
    assert norm.intervention_id == "embolization-2"
    assert (norm.first_intervention_id, norm.first_normalised) == ("fluids-bisphosphonate", None)
    assert norm.normalised is True
    assert norm.measurement_id == "ca-9.8"
    # the 9.8 lab has no day offset -> days cannot be counted
    assert norm.days is None


def test_it_counts_days_to_normalisation_when_both_days_are_known():
    labs = _seed_000_labs(days=(0, 3, 9, 20))
    summary = calcium_summary(labs, _seed_000_treatments())
    # treatment start day 0, first normal lab (9.8) on day 9 -> 9 - 0 = 9 days
    assert summary.normalisation.measurement_id == "ca-9.8"
    assert summary.normalisation.days == 9


def test_it_reports_no_normalisation_when_every_later_value_stays_high():
    labs = [
        Measurement("ca-1", CALCIUM_TOTAL, "mg/dL", D("14"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ca-2", CALCIUM_TOTAL, "mg/dL", D("12.2"), 3, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ca-3", CALCIUM_TOTAL, "mg/dL", D("10.6"), 4, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
    ]
    treatments = [Treatment("zoledronic", "calcium_directed", "administered", 2)]
    summary = calcium_summary(labs, treatments)
    # later values 12.2 and 10.6 are both > ULN 10.1 -> not normalised
    assert summary.normalisation.intervention_id == "zoledronic"
    assert summary.normalisation.normalised is False
    assert summary.normalisation.measurement_id is None


def test_it_gives_no_normalisation_without_a_calcium_directed_intervention():
    treatments = [t for t in _seed_000_treatments() if t.intent != "calcium_directed"]
    summary = calcium_summary(_seed_000_labs(), treatments)
    assert summary.normalisation is None


def test_it_ignores_a_recommended_calcium_directed_treatment():
    treatments = [
        Treatment("recommended-denosumab", "calcium_directed", "recommended", 1),
        *_seed_000_treatments()[1:],
    ]
    summary = calcium_summary(_seed_000_labs(), treatments)
    # only cancer-directed treatments were administered -> nothing to measure normalisation from
    assert summary.normalisation is None
    # and the recommendation has no before/after entry
    assert [a.intervention_id for a in summary.around] == ["embolization-1", "embolization-2"]


def test_it_measures_normalisation_from_the_administered_treatment_not_an_earlier_recommendation():
    treatments = [
        Treatment("recommended-calcitonin", "calcium_directed", "recommended", 1),
        *_seed_000_treatments(),
    ]
    summary = calcium_summary(_seed_000_labs(), treatments)
    # recommendation at seq 1 skipped; the administered one at seq 3 is first -> 9.8 at seq 7
    assert summary.normalisation.first_intervention_id == "fluids-bisphosphonate"
    assert summary.normalisation.measurement_id == "ca-9.8"


def test_it_uses_corrected_calcium_for_the_peak_when_an_albumin_shares_the_day():
    labs = [
        Measurement("ca-12", CALCIUM_TOTAL, "mg/dL", D("12.0"), 1, day=2, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("alb", ALBUMIN, "g/dL", D("2.5"), 2, day=2),
        Measurement(
            "ca-12.8", CALCIUM_TOTAL, "mg/dL", D("12.8"), 3, day=4, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
        ),
    ]
    summary = calcium_summary(labs, [])
    # day 2: 12.0 + 0.8 x (4.0 - 2.5) = 13.2 corrected > 12.8 total on day 4 -> peak is the corrected 13.2
    assert summary.peak.measurement_id == "ca-12"
    assert summary.peak.basis == CALCIUM_CORRECTED
    assert summary.peak.mg_dl == D("13.20")
    # 13.2 x 0.2495 = 3.2934 -> 3.29 mmol/L
    assert summary.peak.mmol_l == D("3.29")
    # 13.2 > 12.5, <= 13.5 -> 3 by corrected calcium
    assert summary.peak_grade.grade == 3
    assert summary.peak_grade.basis == CALCIUM_CORRECTED
    corrected_point = next(p for p in summary.points if p.measurement_id == "ca-12")
    assert corrected_point.albumin_id == "alb"
    # the day-4 value has no albumin that day -> stays total calcium
    total_point = next(p for p in summary.points if p.measurement_id == "ca-12.8")
    assert total_point.basis == CALCIUM_TOTAL
    assert total_point.albumin_id is None
    # nadir is the 12.8 total (12.8 < 13.2)
    assert summary.nadir.measurement_id == "ca-12.8"


def test_it_corrects_si_calcium_with_an_albumin_in_g_l_for_the_peak():
    labs = [
        Measurement("ca-si", CALCIUM_TOTAL, "mmol/L", D("3.00"), 1, day=0),
        Measurement("alb-si", ALBUMIN, "g/L", D("25"), 1, day=0),
    ]
    summary = calcium_summary(labs, [])
    # 3.00 + 0.02 x (40 - 25) = 3.30 mmol/L; 3.30 / 0.2495 = 13.22645... -> 13.23 mg/dL; back: 3.30 mmol/L
    assert summary.peak.basis == CALCIUM_CORRECTED
    assert summary.peak.mg_dl == D("13.23")
    assert summary.peak.mmol_l == D("3.30")
    assert summary.points[0].albumin_id == "alb-si"


def test_it_leaves_ionized_calcium_out_of_peak_and_nadir():
    labs = [
        Measurement("ca", CALCIUM_TOTAL, "mg/dL", D("11"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ica", CALCIUM_IONIZED, "mmol/L", D("1.9"), 2, ref_low=D("1.12"), ref_high=D("1.32")),
    ]
    summary = calcium_summary(labs, [])
    # ionized 1.9 mmol/L / 0.2495 = 7.615... mg/dL would be the nadir if included; the nadir stays 11 total
    assert summary.peak.measurement_id == "ca"
    assert summary.nadir.measurement_id == "ca"
    assert summary.nadir.mg_dl == D("11.00")
    # the ionized value is still a point on the course
    assert [p.basis for p in summary.points] == [CALCIUM_TOTAL, CALCIUM_IONIZED]


def test_it_has_no_peak_or_nadir_from_ionized_calcium_alone():
    labs = [Measurement("ica", CALCIUM_IONIZED, "mmol/L", D("1.9"), 1)]
    summary = calcium_summary(labs, [])
    assert summary.peak is None
    assert summary.nadir is None
    assert summary.peak_grade is None


def test_it_gives_before_and_after_points_around_each_administered_intervention():
    summary = calcium_summary(_seed_000_labs(), _seed_000_treatments())
    around = {a.intervention_id: a for a in summary.around}
    assert list(around) == ["fluids-bisphosphonate", "embolization-1", "embolization-2"]
    # seq 3: last before = 12-16 (seq 2); the next administered intervention starts at seq 4 and no calcium
    # lies between 3 and 4, so nothing is attributed to it (10.6 at seq 5 comes after embolization-1)
    assert around["fluids-bisphosphonate"].before.measurement_id == "ca-peak"
    assert around["fluids-bisphosphonate"].after is None
    # seq 4: last before = 12-16 (seq 2), first after and before the next intervention (seq 6) = 10.6 (seq 5)
    assert around["embolization-1"].before.measurement_id == "ca-peak"
    assert around["embolization-1"].after.measurement_id == "ca-10.6"
    # seq 6: last before = 10.6 (seq 5), first after = 9.8 (seq 7)
    assert around["embolization-2"].before.measurement_id == "ca-10.6"
    assert around["embolization-2"].after.measurement_id == "ca-9.8"
    # the before point of seq 3 keeps the range 12..16 in mg/dL
    assert around["fluids-bisphosphonate"].before.low_mg_dl == D("12")
    assert around["fluids-bisphosphonate"].before.high_mg_dl == D("16")


def test_a_result_linked_to_an_intervention_but_measured_after_a_later_one_is_not_its_after_value():
    labs = [
        Measurement("ca-before", CALCIUM_TOTAL, "mg/dL", D("14"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement(
            "ca-linked",
            CALCIUM_TOTAL,
            "mg/dL",
            D("10"),
            5,
            follows=("fluids",),
            ref_low=SEED_000_LOW,
            ref_high=SEED_000_HIGH,
        ),
    ]
    treatments = [
        Treatment("fluids", "calcium_directed", "administered", 2),
        Treatment("chemo", "cancer_directed", "administered", 3),
    ]
    around = {a.intervention_id: a for a in calcium_summary(labs, treatments).around}
    # issue 13, point 10: the 10 mg/dL result is linked to "fluids", but "chemo" (seq 3) was given between them,
    # so it reflects chemo too: never counted as after fluids
    assert around["fluids"].after is None and around["fluids"].normal_after is None
    # "chemo": first result after seq 3 with no later intervention = the same 10 mg/dL (seq 5)
    assert around["chemo"].after.measurement_id == "ca-linked"


def test_it_has_nothing_after_an_intervention_with_no_later_calcium():
    labs = [Measurement("ca", CALCIUM_TOTAL, "mg/dL", D("14"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)]
    treatments = [Treatment("hydration", "calcium_directed", "administered", 2)]
    summary = calcium_summary(labs, treatments)
    assert summary.around[0].before.measurement_id == "ca"
    assert summary.around[0].after is None
    # no later calcium -> normalisation cannot be said
    assert summary.normalisation is None


# --- review findings: normalisation on the disorder's side, grading in the reported unit, censored values ---


def test_hypocalcemia_is_not_normalised_by_a_low_value_when_only_the_default_upper_limit_is_known():
    # no reported range: the documented default has an upper limit (10.5 mg/dL) and no lower limit,
    # so 6.2 mg/dL after treatment is "below the ULN" but says nothing about hypocalcemia resolving
    labs = [
        Measurement("ca-0", CALCIUM_TOTAL, "mg/dL", D("5.8"), 1),
        Measurement("ca-1", CALCIUM_TOTAL, "mg/dL", D("6.2"), 3),
    ]
    treatments = [Treatment("calcium-gluconate", "calcium_directed", "administered", 2)]
    assert calcium_summary(labs, treatments, "hypocalcemia").normalisation is None
    # without a disorder both limits are needed, and the lower one is missing
    assert calcium_summary(labs, treatments).normalisation is None


def test_hypercalcemia_normalises_against_the_default_upper_limit_and_says_so():
    labs = [
        Measurement("ca-0", CALCIUM_TOTAL, "mg/dL", D("13"), 1, day=0),
        Measurement("ca-1", CALCIUM_TOTAL, "mg/dL", D("9.8"), 3, day=4),
    ]
    treatments = [Treatment("zoledronic", "calcium_directed", "administered", 2, start_day=1)]
    n = calcium_summary(labs, treatments, "hypercalcemia").normalisation
    # 9.8 <= default ULN 10.5 -> normalised 4 - 1 = 3 days after the intervention started
    assert (n.normalised, n.measurement_id, n.days) == (True, "ca-1", 3)


def test_hypocalcemia_normalises_when_the_reported_lower_limit_is_reached():
    labs = [
        Measurement("ca-0", CALCIUM_TOTAL, "mg/dL", D("6.0"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ca-1", CALCIUM_TOTAL, "mg/dL", D("7.9"), 3, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ca-2", CALCIUM_TOTAL, "mg/dL", D("9.0"), 4, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
    ]
    treatments = [Treatment("calcium-gluconate", "calcium_directed", "administered", 2)]
    n = calcium_summary(labs, treatments, "hypocalcemia").normalisation
    # 7.9 < LLN 8.9 is still low; 9.0 is within 8.9-10.1
    assert (n.normalised, n.measurement_id) == (True, "ca-2")


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        # domain.md's mmol/L thresholds are exclusive lower bounds of grades 2, 3, 4: 2.9 / 3.1 / 3.4.
        # 2.9 mmol/L = 11.62 mg/dL would be grade 2 on the mg/dL scale (> 11.5); on its own scale it is grade 1
        ("2.9", 1),
        ("2.91", 2),
        ("3.1", 2),
        # 3.4 mmol/L = 13.63 mg/dL would be grade 4 (> 13.5); on its own scale it is grade 3
        ("3.4", 3),
        ("3.41", 4),
    ],
)
def test_the_peak_is_graded_on_the_scale_of_the_unit_it_was_reported_in(value, grade):
    labs = [Measurement("ca", CALCIUM_TOTAL, "mmol/L", D(value), 1, ref_low=D("2.2"), ref_high=D("2.6"))]
    summary = calcium_summary(labs, [])
    assert summary.peak_grade.grade == grade
    assert summary.peak_grade.basis == CALCIUM_TOTAL


def test_a_corrected_peak_in_mmol_l_is_graded_in_mmol_l():
    # SI Payne: 2.80 + 0.02 x (40 - 35) = 2.90 mmol/L exactly -> grade 1 (2.9 is not above 2.9)
    labs = [
        Measurement("ca", CALCIUM_TOTAL, "mmol/L", D("2.80"), 1, day=0, ref_low=D("2.2"), ref_high=D("2.6")),
        Measurement("alb", ALBUMIN, "g/L", D("35"), 1, day=0),
    ]
    summary = calcium_summary(labs, [])
    assert summary.peak_grade.basis == CALCIUM_CORRECTED
    assert summary.peak_grade.grade == 1


def test_a_censored_value_above_everything_else_is_the_peak_with_at_least_its_grade():
    labs = [
        Measurement("ca-12", CALCIUM_TOTAL, "mg/dL", D("12"), 1),
        Measurement("ca-gt15", CALCIUM_TOTAL, "mg/dL", D("15"), 2, comparator=">"),
        Measurement("ca-9", CALCIUM_TOTAL, "mg/dL", D("9"), 3),
    ]
    summary = calcium_summary(labs, [])
    assert (summary.peak.measurement_id, summary.peak.mg_dl, summary.peak.comparator) == ("ca-gt15", D("15.00"), ">")
    # > 15 is above 13.5 -> grade 4, marked as a lower bound
    assert summary.peak_grade.grade == 4
    assert "at least" in summary.peak_grade.note
    # a value censored upwards says nothing about the nadir: 9 stays the nadir
    assert summary.nadir.measurement_id == "ca-9"
    assert summary.nadir.comparator == ""


@pytest.mark.parametrize(
    ("comparator", "grade"),
    [
        # ">13.5" allows only values above 13.5: grade 4; ">=13.5" allows 13.5 itself: grade 3
        (">", 4),
        (">=", 3),
    ],
)
def test_a_censored_value_on_a_threshold_is_graded_by_what_it_allows(comparator, grade):
    assert ctcae_grade(HYPER, CALCIUM_TOTAL, D("13.5"), "mg/dL", uln=D("10.5"), comparator=comparator).grade == grade


def test_a_value_censored_below_is_the_nadir_and_is_graded_for_hypocalcemia():
    labs = [
        Measurement("ca-8", CALCIUM_TOTAL, "mg/dL", D("8"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ca-lt6", CALCIUM_TOTAL, "mg/dL", D("6"), 2, comparator="<"),
    ]
    summary = calcium_summary(labs, [])
    assert (summary.nadir.measurement_id, summary.nadir.comparator) == ("ca-lt6", "<")
    # < 6.0 is below the grade 4 bound (6.0) -> grade 4
    assert summary.nadir_grade.grade == 4
    # the peak is the uncensored 8
    assert summary.peak.measurement_id == "ca-8"


def test_a_value_censored_the_other_way_cannot_be_graded():
    g = ctcae_grade(HYPER, CALCIUM_TOTAL, D("8"), "mg/dL", uln=D("10.5"), comparator="<")
    assert g.grade is None
    assert "cannot be graded" in g.note


def test_a_strict_censored_value_on_the_upper_limit_is_high():
    # ">10.1" with ULN 10.1: every value allowed is above 10.1
    assert interpret(CALCIUM_TOTAL, "mg/dL", D("10.1"), comparator=">", ref_high=D("10.1")).flag == HIGH
    # ">=10.1" allows 10.1 itself, which is within
    assert interpret(CALCIUM_TOTAL, "mg/dL", D("10.1"), comparator=">=", ref_high=D("10.1")).flag == INDETERMINATE
    # "<8.9" with LLN 8.9 is low; "<=8.9" is not known to be
    assert interpret(CALCIUM_TOTAL, "mg/dL", D("8.9"), comparator="<", ref_low=D("8.9"), ref_high=D("10.1")).flag == LOW
    assert (
        interpret(CALCIUM_TOTAL, "mg/dL", D("8.9"), comparator="<=", ref_low=D("8.9"), ref_high=D("10.1")).flag
        == INDETERMINATE
    )


def test_a_censored_value_after_treatment_normalises_only_when_all_it_allows_is_within():
    treatments = [Treatment("zoledronic", "calcium_directed", "administered", 2)]
    before = Measurement("ca-0", CALCIUM_TOTAL, "mg/dL", D("14"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH)
    below_10 = Measurement(
        "ca-lt10", CALCIUM_TOTAL, "mg/dL", D("10"), 3, comparator="<", ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
    )
    # "<10" with range 8.9-10.1: every value it allows is below the upper limit -> hypercalcemia normalised
    assert calcium_summary([before, below_10], treatments, "hypercalcemia").normalisation.normalised is True
    # without a disorder both limits count, and "<10" may be below 8.9: it cannot be told
    assert calcium_summary([before, below_10], treatments).normalisation is None
    # with only the default upper limit (10.5) known, "<10" is below it whatever its value: normalised
    # for hypercalcemia, judged on the upper side only
    unranged = Measurement("ca-lt10", CALCIUM_TOTAL, "mg/dL", D("10"), 3, comparator="<")
    n = calcium_summary([before, unranged], treatments, "hypercalcemia").normalisation
    assert (n.normalised, n.measurement_id) == (True, "ca-lt10")
    # ">12" stays above the upper limit whatever its value: not normalised
    above_12 = Measurement(
        "ca-gt12", CALCIUM_TOTAL, "mg/dL", D("12"), 3, comparator=">", ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH
    )
    assert calcium_summary([before, above_12], treatments, "hypercalcemia").normalisation.normalised is False


def test_ionized_calcium_gets_its_own_peak_nadir_and_grades():
    labs = [
        Measurement("ca", CALCIUM_TOTAL, "mg/dL", D("11"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        Measurement("ica-1", CALCIUM_IONIZED, "mmol/L", D("1.7"), 2, ref_low=D("1.12"), ref_high=D("1.32")),
        Measurement("ica-2", CALCIUM_IONIZED, "mmol/L", D("1.25"), 3, ref_low=D("1.12"), ref_high=D("1.32")),
    ]
    summary = calcium_summary(labs, [])
    assert summary.ionized_peak.measurement_id == "ica-1"
    # 1.7 mmol/L / 0.2495 = 6.8136... -> 6.81 mg/dL; shown back as 1.70 mmol/L
    assert (summary.ionized_peak.mg_dl, summary.ionized_peak.mmol_l) == (D("6.81"), D("1.70"))
    # ionized thresholds: grade 3 is > 1.6 to 1.8 mmol/L
    assert (summary.ionized_peak_grade.grade, summary.ionized_peak_grade.basis) == (3, CALCIUM_IONIZED)
    # nadir 1.25 is within 1.12-1.32 -> grade 0
    assert summary.ionized_nadir.measurement_id == "ica-2"
    assert summary.ionized_nadir_grade.grade == 0
    # the serum summary is untouched
    assert summary.peak.measurement_id == "ca"


def test_a_correction_that_leaves_no_calcium_is_not_used():
    # albumin typed as 45 g/dL (meant g/L): 4 + 0.8 x (4 - 45) = -28.8 mg/dL cannot exist -> the total is kept
    labs = [
        Measurement("ca", CALCIUM_TOTAL, "mg/dL", D("4"), 1, day=0),
        Measurement("alb", ALBUMIN, "g/dL", D("45"), 1, day=0),
    ]
    point = calcium_summary(labs, []).points[0]
    assert point.basis == CALCIUM_TOTAL
    assert point.low_mg_dl == D("4")
    assert point.albumin_id is None


def test_ionized_calcium_claims_no_loinc_when_the_specimen_is_not_reported():
    # domain.md: 1994-3 (blood), 1995-0 (serum/plasma); no code for an unknown specimen
    assert analyte(CALCIUM_IONIZED).loinc_for("mmol/L") is None
    assert analyte(CALCIUM_IONIZED).loinc_for("mmol/L", "blood") == "1994-3"
    assert analyte(CALCIUM_IONIZED).loinc_for("mmol/L", "serum") == "1995-0"


def test_plausible_maxima_convert_to_each_unit():
    # 40 mg/dL x 0.2495 = 9.98 mmol/L; albumin 10 g/dL = 100 g/L
    assert analyte(CALCIUM_TOTAL).plausible_max_in("mmol/L") == D("9.98")
    assert analyte(ALBUMIN).plausible_max_in("g/L") == D("100")


def test_normalisation_counts_the_disorders_limit_whether_or_not_the_other_is_reported():
    # hypercalcemia 14 -> treatment -> 8.5: below the lower limit 8.9 when it is reported, but the
    # hypercalcemia has resolved either way; the overshoot shows in the nadir (8.5 < LLN 8.9 -> grade 1)
    treatments = [Treatment("zoledronic", "calcium_directed", "administered", 2)]
    for ref_low in (SEED_000_LOW, None):
        labs = [
            Measurement("ca-0", CALCIUM_TOTAL, "mg/dL", D("14"), 1, ref_low=ref_low, ref_high=SEED_000_HIGH),
            Measurement("ca-1", CALCIUM_TOTAL, "mg/dL", D("8.5"), 3, ref_low=ref_low, ref_high=SEED_000_HIGH),
        ]
        summary = calcium_summary(labs, treatments, "hypercalcemia")
        assert summary.normalisation.normalised is True, ref_low
    assert summary.nadir.mg_dl == D("8.50")


def test_on_a_tie_the_strictly_censored_value_is_the_peak_and_grades_it():
    labs = [
        Measurement("ca-exact", CALCIUM_TOTAL, "mg/dL", D("13.5"), 1),
        Measurement("ca-above", CALCIUM_TOTAL, "mg/dL", D("13.5"), 2, comparator=">"),
    ]
    summary = calcium_summary(labs, [])
    # 13.5 alone is grade 3 (not above 13.5); ">13.5" is above it -> grade 4
    assert (summary.peak.measurement_id, summary.peak.comparator) == ("ca-above", ">")
    assert summary.peak_grade.grade == 4
    below = [
        Measurement("ca-exact", CALCIUM_TOTAL, "mg/dL", D("6.0"), 1),
        Measurement("ca-below", CALCIUM_TOTAL, "mg/dL", D("6.0"), 2, comparator="<"),
    ]
    summary = calcium_summary(below, [])
    # 6.0 alone is grade 3 (not below 6.0); "<6.0" is below it -> grade 4
    assert (summary.nadir.measurement_id, summary.nadir_grade.grade) == ("ca-below", 4)


def test_the_case_grade_is_the_worst_of_its_values_when_units_are_mixed():
    labs = [
        # 11.6 mg/dL > 11.5 -> grade 2 on the mg/dL scale
        Measurement("ca-mg", CALCIUM_TOTAL, "mg/dL", D("11.6"), 1, ref_low=SEED_000_LOW, ref_high=SEED_000_HIGH),
        # 2.9 mmol/L = 11.62 mg/dL, the higher value, but grade 1 on the mmol/L scale (2.9 is not above 2.9)
        Measurement("ca-si", CALCIUM_TOTAL, "mmol/L", D("2.9"), 2, ref_low=D("2.2"), ref_high=D("2.6")),
    ]
    summary = calcium_summary(labs, [])
    assert summary.peak.measurement_id == "ca-si"
    assert summary.peak_grade.grade == 2


@pytest.mark.parametrize(
    ("direction", "value", "comparator", "limits"),
    [
        (HYPER, "9", ">", {"uln": D("10.1")}),  # ">9" may be above 10.1
        (HYPO, "9.5", "<", {"lln": D("8.9")}),  # "<9.5" may be below 8.9
    ],
)
def test_a_censored_value_that_may_lie_on_either_side_of_the_limit_has_no_grade(direction, value, comparator, limits):
    g = ctcae_grade(direction, CALCIUM_TOTAL, D(value), "mg/dL", comparator=comparator, **limits)
    assert g.grade is None
    assert g.note.startswith("not determinable")
