"""Personal data in free text: person names, postal addresses and dates of birth.

Support tickets, notes and log lines hold people as prose ("Please call Maria Gonzalez at her
flat, 14 Rue des Lilas, 75011 Paris, born 3 May 1987"), where the pattern detectors see nothing.

- Postal addresses: the formats of the US, the UK, Germany and France as patterns anchored on what
  makes an address and not a topic — a house number beside a street word, and a postcode of the
  country's shape with a town. A street named without a number ("the Main Street store") is not
  an address; a house number next to a postcode is not a phone number (see `address_spans`).
- Dates of birth: a real calendar date (numeric or with month names in English, German and
  French) with birth context in the same clause ("born", "DOB", "geboren", "née"). Any other date
  is not personal.
- Person names: a named-entity model (`nlp`) proposes, precision rules decide — two or more
  capitalized name words, or one after a title or a salutation; no digits; not a company (a legal
  form follows), not inside an address, not on the asset's allow-list. Cue phrases ("Dear", "Mr",
  `name=`) find names the model misses in log lines.

Each finder returns `Mention`s with a confidence; evidence leaves as masks (`M**** G*******`).
A field longer than `MAX_TEXT_CHARS` is read up to there and reported as cut short.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

MAX_TEXT_CHARS = 20_000  # of one field, searched (the model's time grows with it); the rest reported as cut short


@dataclass(frozen=True)
class Mention:
    kind: str  # person_name, postal_address, date_of_birth
    start: int
    end: int
    text: str
    score: float


# --- postal addresses ------------------------------------------------------------------------

_CAP = r"[A-ZÀ-Þ][\wÀ-ÿ'’.-]*"
_US_SUFFIX = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|"
              r"Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Close|Crescent|Cres|Gardens|Grove|Mews|Row|Walk|Hill|Trail")
_US_STATE = (r"A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|"
             r"V[AT]|W[AIVY]")
_UK_POSTCODE = r"(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})"
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*[\w-]+)?"
# "1600 Pennsylvania Avenue NW, Washington, DC 20500" · "221B Baker Street, London NW1 6XE"
_ANGLO = re.compile(
    rf"(?<![\w-])(?:(?:Flat|Apt|Apartment|Unit)\s+\w+,?\s+)?\d{{1,5}}[A-Za-z]?\s+(?:{_CAP}\s+){{1,3}}(?:{_US_SUFFIX})\.?"
    rf"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}"
    rf"(?P<tail>(?:,?\s+(?:{_CAP}\s+){{0,2}}{_CAP},?\s+(?:(?:{_US_STATE})\s+\d{{5}}(?:-\d{{4}})?|{_UK_POSTCODE}))"
    rf"|(?:,?\s+{_UK_POSTCODE})|(?:,\s+(?:{_CAP}\s+){{0,2}}{_CAP}(?=[\s.,;)]|$)))?")
# "Hauptstraße 12, 10115 Berlin" · "Am Weiher 3a, 80331 München"
_DE_STREET = r"(?:[Ss]tra(?:ß|ss)e|[Ss]tr\.|[Ww]eg|[Pp]latz|[Aa]llee|[Gg]asse|[Rr]ing|[Dd]amm|[Uu]fer|[Cc]haussee|[Pp]fad|[Ss]teig)"
_DE = re.compile(
    rf"(?<![\w-])(?:{_CAP}(?:[-\s]{_CAP}){{0,3}}?[-\s]?{_DE_STREET}|(?:Am|An der|Auf der|Im|In der|Zum|Zur)\s+{_CAP}(?:\s{_CAP})?)"
    rf"\s+\d{{1,4}}(?:\s?[a-zA-Z](?![\w]))?(?:[-/]\d{{1,4}})?(?P<tail>,?\s+\d{{5}}\s+{_CAP}(?:\s(?:am|an der|im)\s{_CAP})?)?")
# "14 Rue des Lilas, 75011 Paris" · "3 bis, avenue Jean Jaurès 69007 Lyon"
_FR_STREET = r"(?:rue|avenue|av\.|boulevard|bd|place|chemin|impasse|allée|allee|quai|route|cours|square|passage)"
_FR = re.compile(
    rf"(?<![\w-])\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?i:{_FR_STREET})\s+(?:(?:de la|de l'|du|des|de|d'|l'|la|le)\s*)?"
    rf"{_CAP}(?:[\s-](?:de la|du|des|de|d'|la|le|{_CAP})){{0,4}}"
    rf"(?P<tail>,?\s+\d{{5}}\s+{_CAP}(?:[\s-]{_CAP}){{0,2}})?")
_ADDRESS_PATTERNS = (_ANGLO, _DE, _FR)


def address_spans(text: str) -> list[Mention]:
    """Postal addresses: a house number with a street — with its postcode and town, a sure one."""
    found: list[Mention] = []
    for pattern in _ADDRESS_PATTERNS:
        for match in pattern.finditer(text):
            value = match.group(0).rstrip(" ,.")
            score = 0.95 if match.group("tail") else 0.7
            found.append(Mention("postal_address", match.start(), match.start() + len(value), value, score))
    return _without_overlaps(found)


# --- dates of birth -------------------------------------------------------------------------

_MONTHS = {
    **{m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"], 1)},
    **{m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)},
    "sept": 9,
    **{m: i for i, m in enumerate(["januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september",
                                   "oktober", "november", "dezember"], 1)},
    "jänner": 1, "maerz": 3, "okt": 10, "dez": 12,
    **{m: i for i, m in enumerate(["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                                   "octobre", "novembre", "décembre"], 1)},
    "fevrier": 2, "aout": 8, "decembre": 12, "janv": 1, "févr": 2, "avr": 4, "juil": 7, "déc": 12,
}
_MONTH = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
_DATE = re.compile(
    rf"(?<![\w.-])(?:(?P<d1>\d{{1,2}})[./-](?P<m1>\d{{1,2}})[./-](?P<y1>(?:19|20)\d{{2}})"
    rf"|(?P<y2>(?:19|20)\d{{2}})-(?P<m2>\d{{2}})-(?P<d2>\d{{2}})"
    rf"|(?P<d3>\d{{1,2}})(?:st|nd|rd|th|er)?\.?\s+(?:of\s+)?(?P<m3>{_MONTH})\.?,?\s+(?P<y3>(?:19|20)\d{{2}})"
    rf"|(?P<m4>{_MONTH})\.?\s+(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y4>(?:19|20)\d{{2}}))(?![\w-])",
    re.IGNORECASE)
_BIRTH = re.compile(r"\b(?:born|birth|birthday|birthdate|dob|d\.o\.b\.?|geboren|geb\.|geburtsdatum|geburtstag|née?|"
                    r"naissance|date_of_birth|birth_date|date of birth)(?!\w)", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.;!?\n]\s|\s[-–]\s")
_BIRTH_WINDOW = 40  # characters of context on either side, within the clause


def _calendar_date(match: re.Match) -> date | None:
    for n in "1234":
        if match.group(f"y{n}"):
            day, month, year = match.group(f"d{n}"), match.group(f"m{n}"), match.group(f"y{n}")
            break
    else:  # pragma: no cover - the pattern always sets one alternative
        return None
    number = int(month) if month.isdigit() else _MONTHS.get(month.lower().rstrip("."))
    try:
        return date(int(year), number or 0, int(day))
    except ValueError:
        return None


def birth_dates(text: str, today: date | None = None) -> list[Mention]:
    """Calendar dates said to be a birth date by the words around them in the same clause."""
    today = today or date.today()
    found = []
    for match in _DATE.finditer(text):
        when = _calendar_date(match)
        if when is None or not date(1900, 1, 1) <= when <= today:
            continue
        before = text[max(0, match.start() - _BIRTH_WINDOW):match.start()]
        after = text[match.end():match.end() + _BIRTH_WINDOW // 2]
        if _said_of_birth(before, after):
            found.append(Mention("date_of_birth", match.start(), match.end(), match.group(0), 0.95))
    return found


def _said_of_birth(before: str, after: str) -> bool:
    """A birth keyword next to the date with no clause end between them (`geb.`, `D.O.B.` end in a
    period of their own)."""
    last = max(_BIRTH.finditer(before), key=lambda m: m.start(), default=None)
    if last is not None and not _CLAUSE_END.search(before[last.end():]):
        return True
    first = _BIRTH.search(after)
    return first is not None and not _CLAUSE_END.search(after[:first.start()])


# --- person names ---------------------------------------------------------------------------

_NAME_WORD = r"[A-ZÀ-Þ][a-zß-ÿ]+(?:['’-][A-ZÀ-Þ]?[a-zß-ÿ]+)?"
_PARTICLE = r"(?:van der|van den|van|von|de la|de|del|della|di|da|du|le|la|zu|bin|ibn|al|auch)"
_FULL_NAME = rf"{_NAME_WORD}(?:\s+(?:{_PARTICLE}\s+)?{_NAME_WORD}){{1,3}}"
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|Madame|Monsieur|Sr|Sra)\.?"
# Words after which a capitalized pair is a person: a title (then one word is enough), a greeting or
# a sign-off, a relation, a call, `name=`.
_CUE = (rf"(?:\b{_TITLE}|\b(?:Dear|Hi|Hello|Hallo|Bonjour|Liebe|Lieber|Cher|Chère|Regards|Thanks|Cheers|Cordialement|"
        r"Grüße|Gruß|Sincerely)[,:]?|\b(?:[Mm]y name is|this is|[Ii] am|I'm|[Nn]ame:|[Cc]ustomer:|[Pp]atient:|[Cc]ontact:|"
        r"[Ss]igned(?: for)?(?: by)?:?|[Cc]all|[Ss]poke (?:to|with)|[Tt]alked to|[Ee]mailed|[Mm]et(?: with)?|"
        r"[Aa]sk for|[Nn]eighbou?r|[Ww]ife|[Hh]usband|[Ss]on|[Dd]aughter|[Mm]other|"
        r"[Ff]ather|[Ff]riend|[Cc]olleague|[Pp]artner|[Cc]arer|[Pp]atient|[Dd]octor|[Cc]ourier driver)"
        r"|\b(?:name|full_name|customer_name|patient|user_name|contact)\s*[=:]\s*[\"']?)\s*$")
_CUED_BEFORE = re.compile(_CUE)
_PAIRS = re.compile(rf"(?<![\w'-]){_FULL_NAME}")
_TITLED_WORD = re.compile(rf"\b{_TITLE}\s+({_NAME_WORD})")
_TITLED = re.compile(rf"\b{_TITLE}\s*$")
_LEGAL_FORM = re.compile(r"(?:GmbH|AG|KG|SE|Inc|Ltd|LLC|LLP|PLC|plc|SA|SAS|SARL|S\.A\.|Corp|Co|Group|Bank|"
                         r"University|Hospital|Clinic|Foundation|Street|Road|Avenue|Lane|Drive)\.?$")
_NOT_NAME_WORDS = frozenset("""Please Thanks Thank Hello Hi Dear Order Orders Parcel Refund Invoice Account Customer Support
Team Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July August
September October November December Street Road Avenue Lane Drive Rue Strasse Straße Mr Mrs Ms Dr The This That
Express Standard Premium Pro Plus Max Mini Ultra Turbo Edition Series Model Version Error Warning Info Debug
Android iOS Windows Linux App""".split())


def person_names(texts: Sequence[str], addresses: Sequence[Sequence[Mention]] | None = None) -> list[list[Mention]]:
    """Per text, the person names in it. Proposals come from the model (its persons; its
    organizations and places too, where a cue says a person is meant) and from capitalized pairs
    after a cue; a model's person with no cue must not read as a company to a name parser
    (probablepeople).
    Raises `nlp.ModelUnavailable` when no model is installed."""
    from dataflow_governance.detection import nlp

    spans = nlp.entity_spans([t[:MAX_TEXT_CHARS] for t in texts])
    out = []
    for i, text in enumerate(texts):
        inside = addresses[i] if addresses is not None else address_spans(text)
        proposed = [(s, e, label == "PERSON") for s, e, label in spans[i]]
        proposed += [(m.start(), m.end(), False) for m in _PAIRS.finditer(text[:MAX_TEXT_CHARS])]
        proposed += [(m.start(1), m.end(1), False) for m in _TITLED_WORD.finditer(text[:MAX_TEXT_CHARS])]
        found = [m for s, e, trusted in proposed if (m := _name_at(text, s, e, trusted)) is not None]
        out.append([m for m in _without_overlaps(found) if not _overlaps(m, inside)])
    return out


def _name_at(text: str, start: int, end: int, trusted: bool) -> Mention | None:
    """The span as a person's name, or None: trusted (the model's PERSON) or cued, name words
    only, two of them unless a title precedes, and a person to the name parser."""
    value = re.sub(r"['’]s$", "", text[start:end]).strip(" .,;:'\"")
    titled_inside = re.match(rf"{_TITLE}\s+", value)
    if titled_inside:
        value = value[titled_inside.end():]
    start = text.find(value, start)
    before = text[max(0, start - 24):start]
    cued, titled = _CUED_BEFORE.search(before) is not None, bool(titled_inside) or _TITLED.search(before) is not None
    words = value.split()
    if not (trusted or cued) or not words or any(ch.isdigit() for ch in value) or _LEGAL_FORM.search(value):
        return None
    names = [w for w in words if re.fullmatch(_NAME_WORD, w) and w not in _NOT_NAME_WORDS]
    capitals = [w for w in words if w[:1].isupper()]
    if len(names) < (1 if titled else 2) or len(names) < len(capitals):
        return None
    if not cued and _parses_as_company(value):
        return None  # the model's person, alone, where a name parser reads a company
    return Mention("person_name", start, start + len(value), value, 0.9 if cued else 0.8)


@lru_cache(maxsize=4096)
def _parses_as_company(value: str) -> bool:
    """A name parser's word that this is a company: it found the parts of one (a legal form, an
    organization word), not merely an unfamiliar surname."""
    import probablepeople

    try:
        tags, kind = probablepeople.tag(value)
    except probablepeople.RepeatedLabelError:
        return False
    return kind == "Corporation" and any(t in tags for t in ("CorporationLegalType", "CorporationNameOrganization",
                                                             "CorporationCommitteeType", "CorporationNameBranchType"))


def _overlaps(mention: Mention, others: Iterable[Mention]) -> bool:
    return any(mention.start < o.end and o.start < mention.end for o in others)


def _without_overlaps(mentions: list[Mention]) -> list[Mention]:
    """The longest of overlapping mentions (then the surest); n log n, as a field may hold thousands."""
    starts: list[int] = []  # the kept spans, sorted by start (they never overlap each other)
    ends: list[int] = []
    kept: list[Mention] = []
    for m in sorted(mentions, key=lambda m: (-(m.end - m.start), -m.score, m.start)):
        i = bisect.bisect_left(starts, m.start)
        if (i < len(starts) and starts[i] < m.end) or (i > 0 and ends[i - 1] > m.start):
            continue
        starts.insert(i, m.start)
        ends.insert(i, m.end)
        kept.insert(i, m)
    return kept


# --- masks ------------------------------------------------------------------------------------

def mask_words(value: str) -> str:
    """Each word's first letter, the rest starred; digits as #: `M**** G*******`, `## R** d** L*****`."""
    def starred(word: re.Match[str]) -> str:
        return word.group(1) + "*" * len(word.group(2))

    return re.sub(r"\d", "#", re.sub(r"([^\W\d_])([^\W\d_]+)", starred, value))


# --- one text's mentions, for the scans ----------------------------------------------------------

_NAMES: dict[str, list[Mention]] = {}  # text → its names: filled a batch at a time (`prepare`), bounded
_NAMES_KEPT = 8192


def prepare(texts: Iterable[str]) -> None:
    """Find the names of many texts in one pass of the model (much faster than one by one); the
    scans call this before asking `mentions` value by value."""
    todo = list(dict.fromkeys(t for t in texts if t not in _NAMES))
    if len(_NAMES) + len(todo) > _NAMES_KEPT:
        _NAMES.clear()
    for start in range(0, len(todo), 512):
        batch = todo[start:start + 512]
        _NAMES.update(zip(batch, person_names(batch)))


def mentions(text: str, kind: str) -> list[Mention]:
    """The mentions of one kind in a text."""
    text = text[:MAX_TEXT_CHARS]
    if kind == "postal_address":
        return address_spans(text)
    if kind == "date_of_birth":
        return birth_dates(text)
    if text not in _NAMES:
        prepare([text])
    return _NAMES[text]
