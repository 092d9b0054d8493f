"""Proposals from a source text: the rows a curator would draft from a case report, each tied to its evidence.

A pure function of the text and the vocabularies the caller passes (analytes with their names and units,
agents with their synonyms, HPO terms): no Django, no database, nothing downloaded. Every proposal has a
kind, fields in the shape of the case document's rows (api/serializers.py) and the character span
[start, end) of its evidence in the text as given. Nothing here is specific to one paper.

How each kind is found:
- patient: "A 67-year-old woman", "a sixty-one-year old female";
- lab: an analyte name or abbreviation, then a value ("15.1 pg/mL"), a range ("between 12 and 16 mg/dL",
  "12–16"), a censored value ("<5 mg/dL") in one of the analyte's units, or else the source's word
  ("an elevated PTH-related protein level"); a printed reference range ("(normal range, 8.9–10.1 mg/dL)")
  goes with the values before it, and later values of the same analyte and unit inherit the last printed
  range (said in `notes`); several values in one sentence are separate proposals in order;
- intervention: agents by name or synonym (a one-letter slip is tolerated in names of 8 letters or more,
  one extra word inside names of three words or more), with dose, route, cycles and duration where printed;
- metastasis: a site word near "metasta…", present or explicitly absent by NegEx (negspacy on a blank
  spaCy pipeline);
- finding: HPO terms and synonyms matched as normalised token sequences (the approach of FastHPOCR), with
  NegEx for absence;
- tumor: ER / PR / HER2 and hormone-receptor status, TNM as printed, histology phrase with grade;
- timing: "Eight months after radioembolization" goes to every row of its sentence as `timing_text`; a day
  offset is set only where the phrase is one ("day 3", "on day 14"): other phrases are relative to an event
  whose day the extractor cannot know, so their amount is given in `timing` (anchor, days, approximate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

# --- vocabularies (passed by the caller) -------------------------------------------------------------------


@dataclass(frozen=True)
class AnalyteTerm:
    code: str
    names: tuple[str, ...]  # label, usual names and abbreviations
    units: tuple[str, ...]


@dataclass(frozen=True)
class AgentTerm:
    code: str
    name: str
    category: str
    synonyms: tuple[str, ...] = ()
    intent: str = ""  # the intent the agent always has, where its class gives one (an antineoplastic: cancer-directed)


@dataclass(frozen=True)
class PhenotypeTerm:
    id: str
    label: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    analytes: tuple[AnalyteTerm, ...]
    agents: tuple[AgentTerm, ...]
    phenotypes: tuple[PhenotypeTerm, ...] = ()


@dataclass
class Proposal:
    kind: str  # patient, tumor, metastasis, finding, lab, intervention
    fields: dict
    start: int
    end: int
    quote: str = ""
    timing: dict | None = None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "fields": self.fields,
            "span": [self.start, self.end],
            "quote": self.quote,
            "timing": self.timing,
        }


KINDS = ("patient", "tumor", "metastasis", "finding", "lab", "intervention")

# Metastasis site words, keyed by the registry's MetastasisSite codes (a test keeps them in step).
SITE_WORDS: dict[str, tuple[str, ...]] = {
    "bone": ("bone", "osseous", "skeletal", "spine", "spinal", "vertebra", "vertebral", "vertebrae", "skeleton"),
    "liver": ("liver", "hepatic"),
    "lymph_node": ("lymph node", "nodal", "lymph"),
    "lung": ("lung", "pulmonary"),
    "brain": ("brain", "cerebral", "intracranial"),
    "skin": ("skin", "cutaneous"),
    "pleura": ("pleura", "pleural"),
    "adrenal": ("adrenal",),
    "peritoneum": ("peritoneum", "peritoneal"),
    "soft_tissue": ("soft tissue",),
    "thorax": ("thorax", "thoracic", "chest"),
    "abdomen": ("abdomen", "abdominal"),
}
SITE_QUALIFIERS = {
    "right", "left", "bilateral", "both", "cervical", "lumbar", "sacral", "axillary", "supraclavicular",
    "mediastinal", "hilar", "retroperitoneal", "inguinal",
}  # fmt: skip

# --- text normalisation with an offset map -----------------------------------------------------------------

_SOFT_HYPHEN = re.compile(r"(?<=[a-z])-[ \t]*\r?\n[ \t]*(?=[a-z])")
_BLANK_LINE = re.compile(r"[ \t]*\r?\n[ \t]*\r?\n\s*")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> tuple[str, list[int]]:
    """Words broken across lines joined ("adri-\\nmycin"), blank lines kept as one newline, other white space
    as one space; with, for each character of the result, its offset in `text`."""
    out: list[str] = []
    index: list[int] = []
    pos = 0
    pattern = re.compile(f"{_SOFT_HYPHEN.pattern}|(?P<blank>{_BLANK_LINE.pattern})|(?P<space>{_SPACE.pattern})")
    for m in pattern.finditer(text):
        out.append(text[pos : m.start()])
        index.extend(range(pos, m.start()))
        if m.group("blank") is not None:
            out.append("\n")
            index.append(m.start())
        elif m.group("space") is not None:
            out.append(" ")
            index.append(m.start())
        pos = m.end()
    out.append(text[pos:])
    index.extend(range(pos, len(text)))
    index.append(len(text))  # the end of the last character
    return "".join(out), index


# --- tokens and phrase matching ----------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?")


@lru_cache(maxsize=65536)
def norm_token(token: str) -> str:
    """Lower case, British spellings (haem-, -aemia, oe) and plural -s folded, so variants compare equal."""
    t = token.lower()
    if t.isdigit():
        return t
    t = t.replace("aemia", "emia").replace("haem", "hem").replace("oedema", "edema").replace("oesophag", "esophag")
    if len(t) > 4 and t.endswith("ies"):
        t = t[:-3] + "y"
    elif len(t) > 4 and t.endswith("es") and t[-3] in "sxz":
        t = t[:-2]
    elif len(t) > 3 and t.endswith("s") and not t.endswith(("ss", "us", "is")):
        t = t[:-1]
    return t


@dataclass(frozen=True)
class Token:
    text: str
    norm: str
    start: int
    end: int


def tokens_of(text: str, offset: int = 0) -> list[Token]:
    return [
        Token(m.group(), norm_token(m.group()), m.start() + offset, m.end() + offset) for m in _TOKEN.finditer(text)
    ]


def phrase_key(phrase: str) -> tuple[str, ...]:
    return tuple(norm_token(m.group()) for m in _TOKEN.finditer(phrase))


@dataclass
class PhraseIndex:
    """Longest-match dictionary lookup of token sequences; a phrase of three words or more added with allow_gap
    also matches with one extra word inside ("decompression and cervical stabilization")."""

    phrases: dict[tuple[str, ...], object] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)  # first token -> phrase lengths, longest first
    gap_ok: set[tuple[str, ...]] = field(default_factory=set)
    exact: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    def add(self, phrase: str, payload: object, *, allow_gap: bool = False) -> None:
        key = phrase_key(phrase)
        if not key:
            return
        letters = re.sub(r"[^A-Za-z]", "", phrase)
        if len(letters) <= 4 and (len(letters) <= 2 or letters[1:] != letters[1:].lower()) and not letters.islower():
            # An abbreviation ("Mg", "Ca", "PTH") matches only as printed: "mg" is a unit, "ca" a word.
            self.exact.setdefault(key, set()).add(letters)
        elif key in self.exact:
            self.exact[key].add("*")
        if key not in self.phrases:
            self.phrases[key] = payload
            lengths = self.lengths.setdefault(key[0], [])
            if len(key) not in lengths:
                lengths.append(len(key))
                lengths.sort(reverse=True)
        if allow_gap and len(key) >= 3:
            self.gap_ok.add(key)

    def find(self, tokens: list[Token]) -> list[tuple[int, int, object]]:
        """Non-overlapping matches as (first token index, end token index, payload)."""
        norms = [t.norm for t in tokens]
        found = []
        i = 0
        while i < len(norms):
            best = None
            for n in self.lengths.get(norms[i], ()):
                if i + n > len(norms):
                    continue
                key = tuple(norms[i : i + n])
                if key in self.phrases and self._printed_right(key, tokens[i : i + n]):
                    best = (i, i + n, self.phrases[key])
                    break
                if self.gap_ok and i + n < len(norms):
                    window = norms[i : i + n + 1]
                    for gap in range(1, n):
                        key = tuple(window[:gap] + window[gap + 1 :])
                        if key in self.gap_ok:
                            best = (i, i + n + 1, self.phrases[key])
                            break
                    if best:
                        break
            if best:
                found.append(best)
                i = best[1]
            else:
                i += 1
        return found

    def _printed_right(self, key: tuple[str, ...], tokens: list[Token]) -> bool:
        printed = self.exact.get(key)
        return not printed or "*" in printed or "".join(t.text for t in tokens if t.text.isalpha()) in printed


# --- numbers, units, words ---------------------------------------------------------------------------------

NUMBER_WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|"
    r"eight|nine))?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|a hundred(?: and \w+)?)"
)


def parse_count(text: str) -> int | None:
    """'6' -> 6, 'sixty-one' -> 61, 'Eight' -> 8; None if it is not a whole number."""
    t = text.lower().strip()
    if t.isdigit():
        return int(t)
    if t in ("a", "an", "one"):
        return 1
    if t in NUMBER_WORDS:
        return NUMBER_WORDS[t]
    parts = re.split(r"[- ]", t)
    if parts[0] in TENS:
        return TENS[parts[0]] + (NUMBER_WORDS.get(parts[1], 0) if len(parts) > 1 else 0)
    return None


def number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}  # 30-day months, 365-day years, as the fixtures count

QUALITATIVE_WORDS = {
    "elevated": "high", "high": "high", "raised": "high", "increased": "high", "increase": "high",
    "higher": "high", "low": "low", "suppressed": "low", "decreased": "low", "reduced": "low", "lower": "low",
    "undetectable": "low", "normal": "normal", "unremarkable": "normal", "positive": "positive",
    "negative": "negative",
}  # fmt: skip
SPECIMENS = {"serum": "serum", "plasma": "plasma", "blood": "blood"}
ROUTES = {
    "intravenous": "intravenous", "intravenously": "intravenous", "iv": "intravenous", "oral": "oral",
    "orally": "oral", "subcutaneous": "subcutaneous", "subcutaneously": "subcutaneous",
    "intramuscular": "intramuscular", "intramuscularly": "intramuscular", "transarterial": "intra_arterial",
    "intra-arterial": "intra_arterial", "intraarterial": "intra_arterial", "topical": "topical",
}  # fmt: skip
DOSE_UNITS = r"(?:mg/kg|mg/m2|mg/m²|mg|g|µg|μg|mcg|ug|IU|units?|mL|ml|mEq|mmol|L)"
RECOMMENDED = re.compile(r"\b(recommend\w*|consider\w*|should|indicated|suggest\w*|first-line)\b", re.I)
ADVISED_AGAINST = re.compile(r"\b(inappropriate|not appropriate|inadequate|avoid\w*|contraindicated)\b", re.I)

# Receptors, TNM, histology.
_STATUS = r"-?(positive|negative|pos\b|neg\b|\+|[−-](?![A-Za-z0-9]))"
RECEPTOR_PATTERNS = {
    "her2": re.compile(
        r"\b(?:HER-?2|ERBB-?2|erbB-?2|c-erbB-?2)(?:/neu)?(?:\s*\([^)]{0,40}\))?\s*(?:status\s*)?(?:was\s+|is\s+|:\s*)?"
        + _STATUS,
        re.I,
    ),
    "er": re.compile(
        r"\b(?:ER|o?estrogen[- ]receptors?)(?:\s*\([^)]{0,20}\))?\s*(?:status\s*)?(?:was\s+|is\s+|:\s*)?" + _STATUS
    ),
    "pr": re.compile(
        r"\b(?:PR|PgR|progesterone[- ]receptors?)(?:\s*\([^)]{0,20}\))?\s*(?:status\s*)?"
        r"(?:was\s+|is\s+|:\s*)?" + _STATUS
    ),
    "hormone_receptor": re.compile(r"\b(?:HR|hormone[- ]receptors?)\s*(?:status\s*)?(?:was\s+|is\s+|:\s*)?" + _STATUS),
}
# Treatments a report names only by their class; the category each takes (the registry's InterventionCategory).
THERAPY_CATEGORIES = {"chemotherapy": "drug", "immunotherapy": "drug", "radiotherapy": "radiotherapy",
                      "radiationtherapy": "radiotherapy", "irradiation": "radiotherapy"}  # fmt: skip
THERAPY_CLASS = re.compile(
    r"\b(?:(?:adjuvant|neoadjuvant|palliative|systemic|concurrent|combination|induction|maintenance|"
    r"first-line|second-line)\s+)?(?P<noun>chemotherapy|immunotherapy|radiotherapy|radiation therapy|irradiation)\b",
    re.I,
)
# A sentence that treats a cancer: "adjuvant ...", "mastectomy for breast cancer" (not "for the treatment of ...",
# which background sentences say of any drug).
CANCER_DIRECTED = re.compile(r"\b(?:neo)?adjuvant\b|\bfor\s+(?:[a-z-]+\s+){0,2}(?:cancer|carcinoma)\b", re.I)
# "breast cancer (T2N1M0)": the site a TNM stage belongs to, when the sentence names it.
SITE_CANCER = re.compile(r"\b(breast|lung|prostate|prostatic|renal|kidney)\s+(?:cancer|carcinoma|tumou?r)", re.I)
TRIPLE_NEGATIVE = re.compile(r"\btriple[- ]negative\b", re.I)
TNM = re.compile(r"\b[cpy]{0,2}T(?:[0-4][a-d]?|is|x)\s?N(?:[0-3][a-c]?|x)\s?M(?:[01][a-c]?|x)\b")
HISTOLOGY_NOUNS = (
    "adenocarcinoma|carcinoma|sarcoma|lymphoma|myeloma|melanoma|leukemia|leukaemia|mesothelioma|blastoma|"
    "neuroendocrine tumou?r|seminoma|cholangiocarcinoma|carcinoid"
)
HISTOLOGY_WORDS = (
    "breast|lung|ductal|lobular|invasive|infiltrating|squamous|cell|small|large|non-small|neuroendocrine|renal|"
    "clear|papillary|serous|mucinous|urothelial|transitional|hepatocellular|colorectal|prostatic|endometrioid|"
    "adenoid|cystic|medullary|follicular|anaplastic|thyroid|gastric|pancreatic|ovarian|cervical|B-cell|T-cell|"
    "diffuse|multiple|plasma|signet|ring|basal|triple-negative|metaplastic|inflammatory"
)
HISTOLOGY = re.compile(
    rf"\b(?P<grade>(?:poorly|moderately|well)[- ]differentiated\s+|undifferentiated\s+)?"
    rf"(?P<words>(?:(?:{HISTOLOGY_WORDS})\s+){{0,4}})(?P<noun>{HISTOLOGY_NOUNS})"
    rf"(?P<diff>\s+with\s+[a-z-]+\s+(?:differentiation|features))?",
    re.I,
)
HISTOLOGY_HINT = re.compile(r"oma\b|omas\b|carcinoid|leuk|neuroendocrine tumou?r", re.I)
GRADES = {"poorly": "poorly_differentiated", "moderately": "moderately_differentiated",
          "well": "well_differentiated", "undifferentiated": "undifferentiated"}  # fmt: skip
TUMOR_SITES = {"breast": "breast", "lung": "lung", "prostate": "prostate", "prostatic": "prostate",
               "renal": "kidney", "kidney": "kidney", "hepatocellular": "liver", "myeloma": "bone_marrow",
               "lymphoma": "lymph_nodes", "melanoma": "skin"}  # fmt: skip

PATIENT = re.compile(
    rf"\b(?P<age>\d{{1,3}}|{_NUMBER_WORD})[- ]years?[- ]old\s+(?:\w+\s+)?"
    r"(?P<sex>woman|man|female|male|girl|boy|lady|gentleman|patient|person|individual)\b",
    re.I,
)
SEX_WORDS = {"woman": "female", "female": "female", "girl": "female", "lady": "female",
             "man": "male", "male": "male", "boy": "male", "gentleman": "male"}  # fmt: skip

TIMING = re.compile(
    rf"\b(?P<amount>\d+(?:\.\d+)?|{_NUMBER_WORD}|a|an|several|a few)[- ](?P<unit>day|week|month|year)s?"
    r"(?P<rel>\s+(?:after|before|later|earlier|following|prior to|post)\b(?P<anchor>[^,.;:()]{0,80})|\s+later\b)",
    re.I,
)
ANCHOR_END = re.compile(
    r"\s+(?:was|were|is|are|had|has|have|demonstrat\w*|show\w*|reveal\w*|she|he|they|we|the patient|and)\b", re.I
)
DAY_N = re.compile(r"\b(?:on\s+)?(?:hospital\s+|post-?operative\s+)?day\s+(?P<day>-?\d{1,4})\b", re.I)

# A number without a unit belongs to the analyte only through a linking word ("calcium of 14.2", "PTH: 3"):
# "vitamin D/calcium 6, 7" ends with citation numbers.
UNITLESS_LINK = re.compile(
    r"\s*(?:levels?\s*|concentrations?\s*|values?\s*)?(?:(?:of|was|were|is|at|measured|:|=)\s*){1,2}", re.I
)
METASTASIS_TRIGGER = re.compile(r"metasta|secondaries", re.I)
DISORDER_WORDS = re.compile(r"\b(?:hyper|hypo)calca?emia\b", re.I)

# English check: the share of a text's words that are among the commonest English words.
COMMON_ENGLISH = frozenset(
    "the of and to a in is was were with for on at by an as be that this from or it her his she he which are "
    "had has have not no after before than patient patients".split()
)


def looks_english(text: str) -> bool:
    """False for text mostly in another script, or of 20 words or more with almost no common English word
    (English prose has about one in three; a clinical list still has some)."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(1 for c in letters if c.isascii()) / len(letters) < 0.5:
        return False
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) < 20:
        return True
    return sum(1 for w in words if w in COMMON_ENGLISH) / len(words) >= 0.05


# --- the extractor -----------------------------------------------------------------------------------------


@dataclass
class _Sentence:
    start: int  # in the normalised text
    end: int
    text: str
    tokens: list[Token]


@dataclass
class _Match:
    start: int  # normalised offsets
    end: int
    payload: object
    first: int = 0  # token indexes within the sentence
    last: int = 0


class Extractor:
    """Compiled vocabularies; `extract(text)` is the pure function. Build once per vocabulary (see `extract`)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.analytes = PhraseIndex()
        for a in vocabulary.analytes:
            for name in a.names:
                self.analytes.add(name, a)
        self.units = {unit_key(unit): unit for a in vocabulary.analytes for unit in a.units}
        unit_alternatives = sorted(
            {re.escape(u).replace("μ", "[μµu]") for u in self.units} | {r"mg/dl", r"mmol/l"}, key=len, reverse=True
        )
        self.unit_re = rf"(?:{'|'.join(unit_alternatives)})(?![A-Za-z])"
        num = r"\d+(?:\.\d+)?"
        self.value_re = re.compile(
            rf"(?:between\s+(?P<b_low>{num})\s*(?P<b_unit1>{self.unit_re})?\s+and\s+(?P<b_high>{num})"
            rf"|(?P<r_low>{num})\s*(?P<r_unit1>{self.unit_re})?\s*(?:–|—|-|to)\s*(?P<r_high>{num})"
            rf"|(?P<cmp>[<>≤≥]=?|less than|greater than|more than)\s*(?P<c_value>{num})"
            rf"|(?P<value>{num}))"
            rf"(?:\s*(?P<unit>{self.unit_re}))?",
            re.I,
        )
        self.agents = PhraseIndex()
        self.agent_qualifiers: dict[str, str] = {}
        self.fuzzy_agent_names: dict[str, AgentTerm] = {}
        for agent in vocabulary.agents:
            for name in (agent.name, *agent.synonyms):
                self.agents.add(name, ("name", agent), allow_gap=True)
                key = phrase_key(name)
                if len(key) == 1 and len(key[0]) >= 8:
                    self.fuzzy_agent_names[key[0]] = agent
        for agent in vocabulary.agents:  # after the names, so that a synonym equal to the head wins
            head = re.sub(r"\s*\([^)]*\)", "", agent.name).strip()
            if head != agent.name:  # "Radioembolization (Y-90)": the head counts when "Y-90" is in the sentence
                self.agent_qualifiers[agent.code] = "".join(phrase_key(re.search(r"\(([^)]*)\)", agent.name)[1]))
                self.agents.add(head, ("qualified", agent), allow_gap=True)
        self.phenotypes = PhraseIndex()
        for term in vocabulary.phenotypes:
            for name in (term.label, *term.synonyms):
                if self._usable_phenotype_name(name):
                    self.phenotypes.add(name, term)
        self.sites = PhraseIndex()
        for site, words in SITE_WORDS.items():
            for word in words:
                self.sites.add(word, site)
        self.nlp = _negex_pipeline()

    @staticmethod
    def _usable_phenotype_name(name: str) -> bool:
        key = phrase_key(name)
        if not key or all(k in COMMON_ENGLISH for k in key):
            return False
        # Single words of three letters or fewer, and capitalised abbreviations ("MI", "ALS", "CHF"), are too
        # ambiguous in running text; "rash" or "pain" are words.
        letters = re.sub(r"[^A-Za-z]", "", name)
        return not (len(key) == 1 and (len(key[0]) < 4 or (letters.isupper() and len(letters) < 6)))

    # -- public -------------------------------------------------------------------------------------------

    def extract(self, text: str) -> list[Proposal]:
        norm, index = normalise(text)
        proposals: list[Proposal] = []
        last_reference: dict[tuple[str, str], tuple[float | None, float | None, str]] = {}
        for sentence in self._sentences(norm):
            rows: list[Proposal] = []
            agent_matches = self._agents(sentence)
            rows += self._interventions(sentence, agent_matches)
            rows += self._labs(sentence, agent_matches, last_reference)
            rows += self._metastases(sentence)
            rows += self._findings(sentence, agent_matches)
            rows += self._tumor(sentence)
            rows += self._patient(sentence)
            self._timing(sentence, rows)
            for p in rows:
                if (
                    norm[p.start : p.end].count("(") > norm[p.start : p.end].count(")")
                    and norm[p.end : p.end + 1] == ")"
                ):
                    p.end += 1  # "Hypercalcemia (11 mg/dL)": a quote closes what it opens
                p.start, p.end = index[p.start], index[p.end - 1] + 1
                if p.timing:
                    p.timing["span"] = [index[p.timing["span"][0]], index[p.timing["span"][1] - 1] + 1]
                p.quote = text[p.start : p.end]
            proposals += rows
        proposals.sort(key=lambda p: (p.start, KINDS.index(p.kind)))
        return proposals

    # -- sentences ----------------------------------------------------------------------------------------

    _BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(•\"“])|\n|\s*•\s*|(?<=\S)\s{0,2}(?=\s\d+\.\s+[A-Z])")

    def _sentences(self, norm: str):
        pos = 0
        for m in [*self._BOUNDARY.finditer(norm), None]:
            end = m.start() if m else len(norm)
            chunk = norm[pos:end]
            if chunk.strip():
                lead = len(chunk) - len(chunk.lstrip())
                s = pos + lead
                e = pos + len(chunk.rstrip())
                yield _Sentence(s, e, norm[s:e], tokens_of(norm[s:e], s))
            pos = m.end() if m else len(norm)

    @staticmethod
    def _span(sentence: _Sentence, first: int, last: int) -> tuple[int, int]:
        return sentence.tokens[first].start, sentence.tokens[last - 1].end

    # -- interventions ------------------------------------------------------------------------------------

    def _agents(self, sentence: _Sentence) -> list[_Match]:
        compact = "".join(t.norm for t in sentence.tokens)
        matches = []
        for first, last, (how, agent) in self.agents.find(sentence.tokens):
            if how == "qualified" and self.agent_qualifiers[agent.code] not in compact:
                continue
            start, end = self._span(sentence, first, last)
            matches.append(_Match(start, end, agent, first, last))
        taken = {i for m in matches for i in range(m.first, m.last)}
        for i, token in enumerate(sentence.tokens):
            if i in taken or len(token.norm) < 8 or not token.text.isalpha():
                continue
            agent = _closest_name(token.norm, tuple(self.fuzzy_agent_names))
            if agent:
                matches.append(_Match(token.start, token.end, self.fuzzy_agent_names[agent], i, i + 1))
        return sorted(matches, key=lambda m: m.start)

    def _interventions(self, sentence: _Sentence, matches: list[_Match]) -> list[Proposal]:
        out = []
        s0 = sentence.start
        text = sentence.text
        # A combination printed as "cyclophosphamide/adriamycin": both drugs, one regimen.
        groups: list[list[_Match]] = []
        for m in matches:
            if groups and text[groups[-1][-1].end - s0 : m.start - s0].strip() in ("/", "+", "-", "and/"):
                groups[-1].append(m)
            else:
                groups.append([m])
        cancer_directed = bool(CANCER_DIRECTED.search(text))
        status = None
        if ADVISED_AGAINST.search(text):
            status = "advised_against"
        elif RECOMMENDED.search(text):
            status = "recommended"
        for group in groups:
            g_start, g_end = group[0].start - s0, group[-1].end - s0
            before, after = text[:g_start], text[g_end:]
            common: dict = {}
            if len(group) > 1:
                common["regimen"] = text[g_start:g_end]
            cycles = re.search(
                rf"(?P<n>\d+|{_NUMBER_WORD})\s+(?P<what>cycles?|courses?|sessions?|interventions?|doses?)\s+of\s+"
                r"(?:\w+\s+){0,2}$",
                before,
                re.I,
            )
            if cycles and parse_count(cycles["n"]):
                common["cycles"] = parse_count(cycles["n"])
                common["cycles_text"] = f"{cycles['n']} {cycles['what']}"
            duration = re.match(
                rf"\s*(?:\w+\s+){{0,2}}?for\s+(?P<text>(?P<n>\d+|{_NUMBER_WORD}|a|an)\s+(?P<unit>day|week|month|year)s?)\b",
                after,
                re.I,
            ) or re.search(
                rf"(?P<text>(?P<n>\d+|{_NUMBER_WORD})\s+(?P<unit>day|week|month|year)s?)\s+of\s+(?:\w+\s+)?$",
                before,
                re.I,
            )
            if duration and parse_count(duration["n"]):
                common["duration_text"] = duration["text"]
                common["duration_days"] = parse_count(duration["n"]) * UNIT_DAYS[duration["unit"].lower()]
            dose = re.match(rf"\s*(?:\(|,)?\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>{DOSE_UNITS})\b", after)
            for m in group:
                agent: AgentTerm = m.payload
                agent_text = text[m.start - s0 : m.end - s0]
                fields = {"category": agent.category, "agent": agent.code, "agent_text": agent_text, **common}
                if status:
                    fields["status"] = status
                if agent.intent or cancer_directed:
                    fields["intent"] = agent.intent or "cancer_directed"
                lead = re.findall(r"[\w-]+|[,;/]", text[max(0, m.start - s0 - 30) : m.start - s0])[-2:]
                lead = lead[lead.index(",") + 1 :] if "," in lead else lead
                route_words = [w.lower() for w in lead + re.findall(r"[\w-]+", agent_text)]
                route = next((ROUTES[w] for w in route_words if w in ROUTES), None)
                if route:
                    fields["route"] = route
                if dose and m is group[-1]:
                    fields["dose_text"] = dose.group().strip(" (,")
                    fields["dose_value"] = number(dose["value"])
                    fields["dose_unit"] = dose["unit"]
                out.append(Proposal("intervention", fields, m.start, m.end))
        # Treatments named only by their class ("adjuvant chemotherapy", "radiotherapy"): no agent, as printed.
        taken = [(m.start - s0, m.end - s0) for m in matches]
        for m in THERAPY_CLASS.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            fields = {"category": THERAPY_CATEGORIES[m["noun"].lower().replace(" ", "")], "agent_text": m.group()}
            if status:
                fields["status"] = status
            if cancer_directed:
                fields["intent"] = "cancer_directed"
            out.append(Proposal("intervention", fields, s0 + m.start(), s0 + m.end()))
        return out

    # -- labs ---------------------------------------------------------------------------------------------

    def _labs(self, sentence, agent_matches, last_reference) -> list[Proposal]:
        s0 = sentence.start
        text = sentence.text
        agent_tokens = {i for m in agent_matches for i in range(m.first, m.last)}
        mentions = []  # (start, end, analyte, weak)
        for first, last, analyte in self.analytes.find(sentence.tokens):
            if agent_tokens & set(range(first, last)):
                continue  # "calcium gluconate" is an agent, not a calcium result
            start, end = self._span(sentence, first, last)
            mentions.append([start, end, analyte, False, first])
        calcium = next((a for a in self.vocabulary.analytes if a.code == "calcium_total"), None)
        if calcium:
            for m in DISORDER_WORDS.finditer(text):  # "Hypercalcemia (11 mg/dL)": a calcium value
                mentions.append([s0 + m.start(), s0 + m.end(), calcium, True, None])
        mentions.sort(key=lambda m: m[0])
        if not mentions:
            return []
        values = []
        for m in self.value_re.finditer(text):
            start = s0 + m.start()
            if any(a[0] <= start < a[1] for a in mentions):
                continue  # digits inside a name: "25-OH", "1,25-(OH)2"
            prev = text[max(0, m.start() - 1) : m.start()]
            if prev and (prev.isalnum() or prev in ".-,/"):
                continue  # "level.5" is a citation, "HER2" a name
            if re.match(r"\s*(?:%|percent|years?|months?|weeks?|days?|hours?|cycles?|times)\b|\s*%", text[m.end() :]):
                continue
            values.append(m)
        results: list[Proposal] = []
        by_mention: dict[int, list[Proposal]] = {}
        for m in values:
            start, end = s0 + m.start(), s0 + m.end()
            unit_text = m.group("unit") or m.group("b_unit1") or m.group("r_unit1") or ""
            unit = self.units.get(unit_key(unit_text), "")
            if m.group("b_low"):
                low, high, cmp = m["b_low"], m["b_high"], ""
            elif m.group("r_low"):
                low, high, cmp = m["r_low"], m["r_high"], ""
            elif m.group("c_value"):
                low, high, cmp = m["c_value"], None, _comparator(m["cmp"])
            else:
                low, high, cmp = m["value"], None, ""
            lead = text[max(0, m.start() - 40) : m.start()]
            is_reference = bool(
                re.search(
                    r"(?:normal|reference|ref\.?)(?:\s+(?:range|interval|values?|limits?))?\s*[:,=]?\s*$", lead, re.I
                )
                or re.search(r"\((?:nl|n|rr)\s*[:,=]?\s*$", lead, re.I)
            )
            if is_reference:
                targets = [p for p in results if p.fields.get("unit") in (unit, "") or not unit]
                if targets:
                    last = targets[-1]
                    same = [
                        p
                        for p in targets
                        if p.fields["analyte"] == last.fields["analyte"] and "ref_low" not in p.fields
                    ]
                    for p in same or [last]:
                        p.fields["ref_low"] = number(low)
                        if high is not None:
                            p.fields["ref_high"] = number(high)
                        p.end = max(p.end, end + (1 if text[m.end() : m.end() + 1] == ")" else 0))
                        last_reference[(p.fields["analyte"], p.fields.get("unit", ""))] = (
                            p.fields.get("ref_low"),
                            p.fields.get("ref_high"),
                            m.group(),
                        )
                continue
            mention = None
            for candidate in reversed(mentions):
                if candidate[1] > start:
                    continue
                a: AnalyteTerm = candidate[2]
                if unit and unit not in a.units:
                    continue
                gap = text[candidate[1] - s0 : m.start()]
                if candidate[3] and len(gap) > 12:
                    continue  # a disorder word takes only a value right after it
                if not unit and (candidate[3] or not UNITLESS_LINK.fullmatch(gap)):
                    continue  # a bare number only right after its analyte: "calcium of 14.2", "PTH: 3"
                mention = candidate
                break
            if mention is None:
                continue
            analyte: AnalyteTerm = mention[2]
            fields = {"analyte": analyte.code}
            if cmp:
                fields["comparator"] = cmp
            fields["value"] = number(low)
            if high is not None:
                fields["value_high"] = number(high)
            if unit:
                fields["unit"] = unit
            self._lab_words(text, mention, s0, fields, with_value=True)
            p = Proposal("lab", fields, mention[0], end)
            results.append(p)
            by_mention.setdefault(id(mention), []).append(p)
        for p in results:  # a later value without its own range takes the last one printed for analyte and unit
            key = (p.fields["analyte"], p.fields.get("unit", ""))
            if "ref_low" not in p.fields and "ref_high" not in p.fields and key in last_reference:
                low, high, printed = last_reference[key]
                if low is not None:
                    p.fields["ref_low"] = low
                if high is not None:
                    p.fields["ref_high"] = high
                p.fields["notes"] = f"Reference range as printed earlier in the text ({printed.strip()})."
        # Several values of one analyte in a sentence: each its own evidence, from the end of the previous one.
        for group in by_mention.values():
            for prev, p in zip(group, group[1:], strict=False):
                p.start = prev.end + 1 if prev.end < p.end else p.start
                while p.start < p.end and not text[p.start - s0].isalnum():
                    p.start += 1
        for mention in mentions:
            if id(mention) in by_mention or mention[3]:
                continue
            fields = {"analyte": mention[2].code}
            self._lab_words(text, mention, s0, fields)
            if fields.get("qualitative") in ("high", "low", "normal"):
                word_end = fields.pop("_word_end", mention[1])
                results.append(
                    Proposal(
                        "lab", fields, min(mention[0], fields.pop("_word_start", mention[0])), max(mention[1], word_end)
                    )
                )
        for p in results:
            p.fields.pop("_word_start", None)
            p.fields.pop("_word_end", None)
        return results

    @staticmethod
    def _lab_words(text, mention, s0, fields, *, with_value: bool = False) -> None:
        """The source's own word for the result ('elevated', 'low', 'normal') and the specimen, where printed."""
        before = text[max(0, mention[0] - s0 - 40) : mention[0] - s0]
        after = text[mention[1] - s0 : mention[1] - s0 + 60]
        words_before = list(re.finditer(r"[A-Za-z-]+", before))[-4:]
        named = re.findall(r"[A-Za-z]+", text[mention[0] - s0 : mention[1] - s0].lower())  # "Serum calcium"
        specimen = next(
            (SPECIMENS[w] for w in [*(w.group().lower() for w in words_before), *named] if w in SPECIMENS), None
        )
        if specimen and not mention[3]:
            fields["specimen"] = specimen
        for w in reversed(words_before):
            word = w.group().lower()
            if word in QUALITATIVE_WORDS and QUALITATIVE_WORDS[word] in ("high", "low", "normal"):
                fields["qualitative"] = QUALITATIVE_WORDS[word]
                fields["_word_start"] = mention[0] - len(before) + w.start()
                return
        if with_value:
            return  # after a value's analyte, "decreased to 10.6" is a change, not the source's flag
        clause = re.split(r"[;,(]| but | while | whereas ", after)[0]
        for w in list(re.finditer(r"[A-Za-z-]+", clause))[:7]:
            word = w.group().lower()
            if word in QUALITATIVE_WORDS and QUALITATIVE_WORDS[word] in ("high", "low", "normal"):
                if word == "normal" and re.match(r"\s+(?:range|limits?)", clause[w.end() :]) and "value" in fields:
                    return
                fields["qualitative"] = QUALITATIVE_WORDS[word]
                fields["_word_end"] = mention[1] + w.end()
                return

    # -- metastases ---------------------------------------------------------------------------------------

    def _metastases(self, sentence: _Sentence) -> list[Proposal]:
        triggers = [i for i, t in enumerate(sentence.tokens) if METASTASIS_TRIGGER.match(t.norm)]
        if not triggers:
            return []
        found = {}
        for first, last, site in self.sites.find(sentence.tokens):
            if not any(-8 <= trigger - first <= 8 for trigger in triggers):
                continue
            while first > 0 and sentence.tokens[first - 1].norm in SITE_QUALIFIERS:
                first -= 1
            start, end = self._span(sentence, first, last)
            found.setdefault(site, (start, end))
        if not found:
            return []
        negated = self._negated(sentence, list(found.values()))
        out = []
        for (site, (start, end)), is_negated in zip(found.items(), negated, strict=True):
            detail = sentence.text[start - sentence.start : end - sentence.start]
            fields = {"site": site, "detail": detail, "present": not is_negated}
            out.append(Proposal("metastasis", fields, *self._clause(sentence, start, end)))
        return out

    @staticmethod
    def _clause(sentence: _Sentence, start: int, end: int) -> tuple[int, int]:
        """The clause around [start, end): the evidence a curator reads for a presence or absence."""
        text = sentence.text
        left = max((m.end() for m in re.finditer(r"[;,]\s+(?:and\s+)?", text[: start - sentence.start])), default=0)
        right_match = re.search(r"[;,]\s+(?:and|but|which|while)\b|;", text[end - sentence.start :])
        right = end - sentence.start + right_match.start() if right_match else len(text.rstrip(". "))
        return sentence.start + left, sentence.start + right

    def _negated(self, sentence: _Sentence, spans: list[tuple[int, int]]) -> list[bool]:
        doc = self.nlp.make_doc(sentence.text)
        for token in doc[1:]:
            token.is_sent_start = False
        ents = []
        for start, end in spans:
            span = doc.char_span(start - sentence.start, end - sentence.start, label="ENTITY", alignment_mode="expand")
            ents.append(span)
        unique = sorted({(e.start, e.end): e for e in ents if e is not None}.values(), key=lambda e: e.start)
        chosen, last_end = [], -1
        for e in unique:
            if e.start >= last_end:
                chosen.append(e)
                last_end = e.end
        doc.ents = chosen
        doc = self.nlp.get_pipe("negex")(doc)
        by_span = {(e.start, e.end): e._.negex for e in doc.ents}
        return [bool(e is not None and by_span.get((e.start, e.end), False)) for e in ents]

    # -- findings -----------------------------------------------------------------------------------------

    def _findings(self, sentence: _Sentence, agent_matches: list[_Match]) -> list[Proposal]:
        agent_tokens = {i for m in agent_matches for i in range(m.first, m.last)}
        matches = []
        for first, last, term in self.phenotypes.find(sentence.tokens):
            if agent_tokens & set(range(first, last)):
                continue
            matches.append((*self._span(sentence, first, last), term))
        if not matches:
            return []
        negated = self._negated(sentence, [(s, e) for s, e, _ in matches])
        out = []
        seen = set()
        for (start, end, term), is_negated in zip(matches, negated, strict=True):
            if (term.id, is_negated) in seen:
                continue
            seen.add((term.id, is_negated))
            label = sentence.text[start - sentence.start : end - sentence.start]
            fields = {"label": label[:1].upper() + label[1:], "hpo_id": term.id, "present": not is_negated}
            out.append(Proposal("finding", fields, start, end))
        return out

    # -- tumor --------------------------------------------------------------------------------------------

    def _tumor(self, sentence: _Sentence) -> list[Proposal]:
        out = []
        s0, text = sentence.start, sentence.text
        taken: list[tuple[int, int]] = []
        for name in ("her2", "hormone_receptor", "er", "pr"):
            for m in RECEPTOR_PATTERNS[name].finditer(text):
                if any(a <= m.start() < b for a, b in taken):
                    continue
                taken.append((m.start(), m.end()))
                status = "positive" if m.group(1).lower() in ("positive", "pos", "+") else "negative"
                out.append(Proposal("tumor", {name: status}, s0 + m.start(), s0 + m.end()))
        for m in TRIPLE_NEGATIVE.finditer(text):
            out.append(
                Proposal(
                    "tumor",
                    {"er": "negative", "pr": "negative", "her2": "negative", "hormone_receptor": "negative"},
                    s0 + m.start(),
                    s0 + m.end(),
                )
            )
        for m in TNM.finditer(text):
            fields = {"tnm_reported": re.sub(r"\s+", "", m.group())}
            site = SITE_CANCER.search(text)
            if site:
                fields["site"] = TUMOR_SITES[site[1].lower()]
            out.append(Proposal("tumor", fields, s0 + m.start(), s0 + m.end()))
        for m in HISTOLOGY.finditer(text) if HISTOLOGY_HINT.search(text) else ():
            if not (m["grade"] or m["words"] or m["diff"]):
                continue  # a bare "carcinoma" says nothing a curator would record
            phrase = m.group().strip()
            fields = {"histology": phrase}
            if m["grade"]:
                fields["grade"] = GRADES[m["grade"].split()[0].split("-")[0].lower()]
            site = next((TUMOR_SITES[w.lower()] for w in re.findall(r"\w+", phrase) if w.lower() in TUMOR_SITES), None)
            if site:
                fields["site"] = site
            out.append(Proposal("tumor", fields, s0 + m.start(), s0 + m.end()))
        return out

    # -- patient ------------------------------------------------------------------------------------------

    def _patient(self, sentence: _Sentence) -> list[Proposal]:
        out = []
        for m in PATIENT.finditer(sentence.text):
            age = parse_count(m["age"])
            if age is None or age > 120:
                continue
            fields = {"age_years": age}
            sex = SEX_WORDS.get(m["sex"].lower())
            if sex:
                fields["sex"] = sex
            out.append(Proposal("patient", fields, sentence.start + m.start(), sentence.start + m.end()))
        return out

    # -- timing -------------------------------------------------------------------------------------------

    def _timing(self, sentence: _Sentence, rows: list[Proposal]) -> None:
        targets = [p for p in rows if p.kind not in ("patient",)]
        if not targets:
            return
        day = DAY_N.search(sentence.text)
        m = TIMING.search(sentence.text)
        if day:
            timing = {"text": day.group().strip(), "day": int(day["day"]), "approximate": False}
            where = (sentence.start + day.start(), sentence.start + day.end())
        elif m:
            amount = parse_count(m["amount"]) if not re.fullmatch(r"\d+\.\d+", m["amount"]) else float(m["amount"])
            anchor = ANCHOR_END.split(m["anchor"] or "")[0].strip() or None
            relation = m["rel"].strip().split()[0].lower()
            sign = -1 if relation in ("before", "earlier", "prior") else 1
            phrase = m.group()[: m.start("anchor") - m.start()] + " " + anchor if anchor else m.group()
            timing = {
                "text": phrase.strip(),
                "anchor": anchor,
                "offset_days": sign * amount * UNIT_DAYS[m["unit"].lower()] if amount else None,
                "approximate": m["unit"].lower() != "day",
            }
            where = (sentence.start + m.start(), sentence.start + m.start() + len(phrase.rstrip()))
        else:
            return
        for p in targets:
            if where[0] <= p.start and p.end <= where[1]:
                continue  # the phrase's anchor ("21 months after the first embolization"): it times something else
            p.timing = {**timing, "span": where}
            p.fields.setdefault("timing_text", timing["text"])
            if "day" in timing:
                p.fields.setdefault("day", timing["day"])


def unit_key(unit: str) -> str:
    """Units compare case-insensitively, with the micro sign, Greek mu and a plain u alike."""
    key = unit.lower().replace("µ", "μ")
    return "μ" + key[1:] if key.startswith("umol") or key.startswith("ug") else key


def _comparator(word: str) -> str:
    return {"less than": "<", "greater than": ">", "more than": ">"}.get(word.lower(), word)


@lru_cache(maxsize=4096)
def _closest_name(token: str, names: tuple[str, ...]) -> str | None:
    """A name one edit away ("adrimycin" for "adriamycin"), starting with the same letter; None if none or several."""
    close = [n for n in names if n[0] == token[0] and Levenshtein.distance(token, n, score_cutoff=1) <= 1]
    return close[0] if len(close) == 1 else None


@lru_cache(maxsize=1)
def _negex_pipeline():
    """A blank English pipeline (tokenizer only, no model download) with negspacy's NegEx, clinical termset.
    spaCy is imported here, on the first extraction, not with the module: importing it costs every web and worker
    process ~0.6 s and ~40 MB that only the proposals need."""
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)
    from negspacy.termsets import termset
    from spacy.tokens import Span

    nlp = spacy.blank("en")
    terms = termset("en_clinical")
    # "evidence of osseous metastasis was absent": NegEx's following triggers lack "absent"; added here.
    terms.add_patterns({"following_negations": ["was absent", "were absent", "is absent", "are absent"]})
    # A coordinated clause starts a new scope: "confined to the liver ..., and evidence of X was absent".
    terms.add_patterns({"termination": [", and", "; and"]})
    nlp.add_pipe("negex", config={"neg_termset": terms.get_patterns(), "ent_types": ["ENTITY"]})
    if not Span.has_extension("negex"):
        Span.set_extension("negex", default=False)
    return nlp


@lru_cache(maxsize=2)
def extractor_for(vocabulary: Vocabulary) -> Extractor:
    return Extractor(vocabulary)


def extract(text: str, vocabulary: Vocabulary) -> list[Proposal]:
    """The proposals for `text`, in text order. Compiled vocabularies are cached per vocabulary."""
    return extractor_for(vocabulary).extract(text)
