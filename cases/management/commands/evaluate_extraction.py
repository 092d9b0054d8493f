"""Precision and recall of the proposals per kind, against curated case documents.

By default: the source-case fixtures (seeds 000, 001, 002) against their texts in fixtures/source_texts/.
Any other report is scored the same way with --pair TEXT_FILE DOCUMENT_JSON (the API's case document).
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cases.evaluation import KINDS, evaluate, fixture_documents
from cases.models import HpoTerm
from cases.proposals import propose

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
SEEDS = {1: "000", 2: "001", 3: "002"}  # source id in source_cases.json -> seed


def default_pairs() -> list[tuple[str, Path, dict]]:
    documents = fixture_documents(FIXTURES / "source_cases.json")
    pairs = []
    for source, seed in SEEDS.items():
        (text,) = (FIXTURES / "source_texts").glob(f"{seed}_*.txt")
        pairs.append((seed, text, documents[source]))
    return pairs


def run(pairs) -> dict:
    scored = [(name, propose(path.read_text(encoding="utf-8")), document) for name, path, document in pairs]
    return evaluate(scored).as_dict()


class Command(BaseCommand):
    help = "Score proposals from source texts against curated case documents: precision and recall per kind."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--pair",
            nargs=2,
            action="append",
            metavar=("TEXT", "DOCUMENT"),
            help="A text file and its case document (JSON as GET /api/v1/cases/{id}/ returns it); repeatable.",
        )
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON, with misses and extras.")

    def handle(self, *args, pair=None, json=False, **options) -> None:
        if not HpoTerm.objects.exists():
            self.stderr.write("No HPO terms loaded (manage.py load_hpo): findings cannot be proposed.")
        pairs = []
        for text, document in pair or []:
            try:
                pairs.append((Path(text).name, Path(text), _load(document)))
            except (OSError, ValueError) as exc:
                raise CommandError(f"{document}: {exc}") from exc
            if not Path(text).is_file():
                raise CommandError(f"No such text file: {text}")
        result = run(pairs or default_pairs())
        if json:
            self.stdout.write(_dumps(result))
            return
        self.stdout.write(f"{'kind':<12}{'precision':>10}{'recall':>8}{'TP':>5}{'FP':>5}{'FN':>5}")
        for kind in KINDS:
            k = result["kinds"][kind]
            self.stdout.write(
                f"{kind:<12}{_pct(k['precision']):>10}{_pct(k['recall']):>8}"
                f"{k['true_positives']:>5}{k['false_positives']:>5}{k['false_negatives']:>5}"
            )
        self.stdout.write(
            f"explicitly absent metastases found absent: {result['absent_metastases_found_absent']} of "
            f"{result['absent_metastases']}"
        )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _load(path: str) -> dict:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError("a case document is a JSON object")
    return document


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
