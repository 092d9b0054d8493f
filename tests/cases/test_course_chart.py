"""The calcium-course chart's data (cases/course_chart.py): what ECharts is given to draw."""

from decimal import Decimal as D
from types import SimpleNamespace

from cases.course_chart import calcium_course, plain_number
from cases.measures import CALCIUM_IONIZED, CALCIUM_TOTAL, Measurement, calcium_summary


def lab(pk, value, unit="mg/dL", quote=""):
    return SimpleNamespace(pk=pk, display_value=f"{plain_number(value)} {unit}", quote=quote)


class Treatment(SimpleNamespace):
    def __str__(self):
        return self.label


def intervention(
    sequence, day=None, end_day=None, status="administered", intent="calcium_directed", label="Zoledronic acid"
):
    return Treatment(
        sequence=sequence, day=day, end_day=end_day, status=status, intent=intent, timing_text="", label=label
    )


def test_numbers_as_people_write_them():
    assert [plain_number(v) for v in (D("12.0000"), D("15.1000"), D("8.70"), D("0.0000"), D("1E+1"))] == [
        "12",
        "15.1",
        "8.7",
        "0",
        "10",
    ]


def test_no_points_no_chart():
    assert calcium_course(calcium_summary([], []), [], {}) == {"empty": True}


def test_the_unit_the_curator_entered_comes_first_and_every_value_is_in_both_units():
    summary = calcium_summary([Measurement(1, CALCIUM_TOTAL, "mmol/L", D("3.11"), 1, day=0)], [])
    data = calcium_course(summary, [], {1: lab(1, D("3.11"), "mmol/L", quote="calcium 3.11 mmol/L")})
    assert (data["unit"], data["other_unit"]) == ("mmol/L", "mg/dL")
    (point,) = data["series"][0]["points"]
    assert point["low"]["mmol/L"] == {"v": 3.11, "text": "3.11"}  # as entered, not rounded
    assert point["low"]["mg/dL"]["text"] == "12.46"  # 3.11 / 0.2495, rounded as measures rounds mg/dL
    assert point["quote"] == "calcium 3.11 mmol/L"
    assert point["entered"] == "3.11 mmol/L"


def test_the_reference_is_a_band_only_between_two_known_limits():
    only_upper = calcium_summary([Measurement(1, CALCIUM_TOTAL, "mg/dL", D("6.3"), 1, ref_high=D("10.2"))], [])
    ref = calcium_course(only_upper, [], {})["reference"]
    assert ref["low"] is None  # no band down to the axis: a 6.3 mg/dL point is not "normal"
    assert ref["high"]["mg/dL"]["text"] == "10.2"
    assert ref["source"] == "reported"

    both = calcium_summary(
        [Measurement(1, CALCIUM_TOTAL, "mg/dL", D("12"), 1, ref_low=D("8.9"), ref_high=D("10.1"))], []
    )
    ref = calcium_course(both, [], {})["reference"]
    assert (ref["low"]["mg/dL"]["text"], ref["high"]["mg/dL"]["text"]) == ("8.9", "10.1")

    default = calcium_summary([Measurement(1, CALCIUM_TOTAL, "mg/dL", D("12"), 1)], [])
    ref = calcium_course(default, [], {})["reference"]
    assert ref["low"] is None and ref["high"]["mg/dL"]["text"] == "10.5" and ref["source"] == "default"


def test_ionized_calcium_limits_are_not_the_serum_reference():
    summary = calcium_summary(
        [Measurement(1, CALCIUM_IONIZED, "mmol/L", D("1.5"), 1, ref_low=D("1.1"), ref_high=D("1.3"))], []
    )
    assert calcium_course(summary, [], {})["reference"] is None


def test_days_and_timeline_order_are_separate_axes():
    summary = calcium_summary(
        [
            Measurement(1, CALCIUM_TOTAL, "mg/dL", D("14"), 2, day=0),
            Measurement(2, CALCIUM_TOTAL, "mg/dL", D("11"), 5),
            Measurement(3, CALCIUM_TOTAL, "mg/dL", D("9.5"), 9),
        ],
        [],
    )
    data = calcium_course(summary, [intervention(3, day=0, end_day=4), intervention(7, label="Denosumab")], {})
    points = data["series"][0]["points"]
    assert [(p["axis"], p["x"]) for p in points] == [("day", 0), ("order", 1), ("order", 3)]
    assert data["axes"] == {
        "day": True,
        "order": [{"x": 1, "sequence": 5}, {"x": 2, "sequence": 7}, {"x": 3, "sequence": 9}],
    }
    first, second = data["interventions"]
    assert (first["axis"], first["x"], first["end"], first["lane"]) == ("day", 0, 4, 0)
    assert (second["axis"], second["x"], second["end"], second["lane"]) == ("order", 2, None, 1)
    assert second["label"] == "Denosumab"


def test_every_intervention_has_its_own_lane_so_labels_never_overprint():
    summary = calcium_summary([Measurement(1, CALCIUM_TOTAL, "mg/dL", D("14"), 1, day=0)], [])
    shown = [intervention(n, day=0, label=f"Drug {n}") for n in range(1, 6)]
    lanes = [b["lane"] for b in calcium_course(summary, shown, {})["interventions"]]
    assert lanes == [0, 1, 2, 3, 4]


def test_a_range_and_a_censored_value_keep_both_ends_and_the_comparator():
    summary = calcium_summary(
        [
            Measurement(1, CALCIUM_TOTAL, "mg/dL", D("12"), 1, value_high=D("16"), day=0),
            Measurement(2, CALCIUM_TOTAL, "mg/dL", D("15"), 2, comparator=">", day=1),
        ],
        [],
    )
    ranged, censored = calcium_course(summary, [], {})["series"][0]["points"]
    assert (ranged["low"]["mg/dL"]["text"], ranged["high"]["mg/dL"]["text"]) == ("12", "16")
    assert censored["comparator"] == ">" and censored["low"]["mg/dL"]["text"] == "15"
