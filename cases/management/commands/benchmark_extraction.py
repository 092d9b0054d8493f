"""Time the extractor on a 10,000-word text made of the source texts (repeated until long enough).

    python manage.py benchmark_extraction [--words 10000] [--repeat 5]

Needs the agents and the HPO table loaded (loaddata agents; load_hpo). Prints the time to compile the
vocabularies (once per process) and the median wall and CPU time to extract.
"""

import re
import statistics
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from cases.models import HpoTerm
from cases.proposals import extractor


def long_text(words: int) -> str:
    """The source texts 000-002 one after another, repeated, cut after `words` words (layout kept)."""
    folder = Path(settings.BASE_DIR) / "fixtures" / "source_texts"
    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("00[0-2]_*.txt"))]
    joined = "\n\n".join(texts * (words // sum(len(t.split()) for t in texts) + 1))
    cut = list(re.finditer(r"\S+", joined))[words - 1].end()
    return joined[:cut]


class Command(BaseCommand):
    help = "Time the extractor on a long text built from the source texts."

    def add_arguments(self, parser):
        parser.add_argument("--words", type=int, default=10_000)
        parser.add_argument("--repeat", type=int, default=5)

    def handle(self, *args, words: int, repeat: int, **options):
        text = long_text(words)
        word_count = len(re.findall(r"\S+", text))
        started = time.perf_counter()
        compiled = extractor()
        build = time.perf_counter() - started
        times, cpu, proposals = [], [], []
        for _ in range(max(repeat, 1)):
            started, started_cpu = time.perf_counter(), time.process_time()
            proposals = compiled.extract(text)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        self.stdout.write(
            f"vocabularies: {len(compiled.vocabulary.agents)} agents, {len(compiled.vocabulary.phenotypes)} HPO terms "
            f"({HpoTerm.objects.count()} loaded); compiled in {build * 1000:.0f} ms"
        )
        self.stdout.write(
            f"text: {word_count} words, {len(text)} characters; {len(proposals)} proposals; "
            f"extract median {statistics.median(times) * 1000:.0f} ms over {len(times)} runs "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); CPU time median "
            f"{statistics.median(cpu) * 1000:.0f} ms (the wall time grows when other processes share the cores)"
        )
