"""PII detectors: a cheap regex prefilter, then an exact validator on what it caught.

The prefilters are written in the regex subset DuckDB (RE2), PostgreSQL (ARE) and Python share,
so a warehouse can run them where the data is; only candidate values come back for validation.
Decoys — 16-digit order numbers failing Luhn, UUIDs, SHA-256 hex, version strings, SKUs, amounts,
dates — pass a prefilter at most, never a validator. Evidence is masked before it leaves here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

PHONE_REGIONS = ("DE", "US", "GB", "FR", "NL", "ES", "IT")  # for numbers written without +country
# Shapes that are something else even when a numbering plan would accept the digits.
_NOT_PHONE = re.compile(r"\d{4}[-./]\d{2}[-./]\d{2}|\d{2}[-./]\d{2}[-./]\d{4}|\d{3}-\d{2}-\d{4}|\d{1,3}(?:\.\d{1,3}){3}"
                        r"|\d+[.,]\d+")  # …and a decimal number


@dataclass(frozen=True)
class Detector:
    name: str
    prefilter: str  # portable regex: DuckDB regexp_matches, PostgreSQL ~, Python re
    find: re.Pattern  # precise candidate extraction in Python
    validate: Callable[[str], bool]
    mask: Callable[[str], str]
    # Column-level evidence (see scan.ColumnReport.settle): a weaker test accepted in a column most
    # of whose values pass `validate`; and whether a value passes `validate` by chance often enough
    # (a checksum: 1 in 10 for Luhn) that hits in a column of other numbers are coincidences.
    weak: Callable[[str], bool] | None = None
    chance_hits: bool = False
    # Spans of a text where this detector's shape means something else (a phone-shaped house number
    # and postcode inside a postal address), and values an asset allows (`scan: {allow: [...]}`).
    not_inside: Callable[[str], list[tuple[int, int]]] | None = None
    allow: frozenset[str] = frozenset()
    # Candidate values a pushed-down scan validates for this detector at most, where it is costlier
    # than the others' (a model): its share of those is scaled up like the others'.
    budget: int | None = None

    def candidates(self, text: str) -> list[str]:
        """Values of the detector's shape in `text`, to validate (outside excluded spans, not allowed)."""
        skip = self.not_inside(text) if self.not_inside else ()
        found = []
        for match in self.find.finditer(text):
            if any(start <= match.start() and match.end() <= end for start, end in skip):
                continue
            value = match.group(0).strip()
            if value.casefold() not in self.allow:
                found.append(value)
        return found

    def unavailable(self) -> str | None:
        """Why the detector cannot run here (a model not installed), or None."""
        return None


class FreeTextDetector(Detector):
    """Person names, postal addresses, dates of birth: found in context (`freetext`), so each
    mention found is already validated."""

    def candidates(self, text: str) -> list[str]:
        from dataflow_governance.detection import freetext

        return [m.text for m in freetext.mentions(text, self.name) if m.text.casefold() not in self.allow]

    def unavailable(self) -> str | None:
        if self.name != "person_name":
            return None  # patterns only
        from dataflow_governance.detection import nlp

        try:
            nlp.pipeline()
        except nlp.ModelUnavailable as exc:
            return str(exc)
        return None


# --- validators ----------------------------------------------------------------------------

def _email_ok(value: str) -> bool:
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    return (0 < len(local) <= 64 and not local.startswith(".") and ".." not in value
            and len(labels) >= 2 and labels[-1].isalpha() and all(labels))


_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}$", re.IGNORECASE)
# "+49 (0) 30 …": the national trunk prefix written after the country code; dialled, it is dropped.
_TRUNK = re.compile(r"^(\+\d{1,3})\s*\(0\)\s*")


def _phone_numbers(value: str) -> Iterator:
    """The parses of a phone-shaped value worth testing: international, else in the usual regions."""
    # (phonenumbers loads its metadata on import: only a scan that meets a phone-shaped value pays it)
    import phonenumbers

    number = _TRUNK.sub(r"\1 ", _EXTENSION.sub("", value.strip()))
    digits = re.sub(r"\D", "", number)
    if not 8 <= len(digits) <= 15:
        return
    if number.isdigit() and len(number) >= 12:
        return  # a long unformatted digit run is an account, card or order number, not a phone
    if _NOT_PHONE.fullmatch(number):
        return  # a date, an SSN, an IPv4 address, a decimal number
    for region in (None,) if number.startswith("+") else PHONE_REGIONS:
        try:
            yield phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue


def _phone_ok(value: str) -> bool:
    import phonenumbers

    return any(phonenumbers.is_valid_number(n) and len(str(n.national_number)) >= 6 for n in _phone_numbers(value))


def _phone_possible(value: str) -> bool:
    """A number of a possible length for its plan (new or unassigned ranges, odd national formats)."""
    import phonenumbers

    return any(phonenumbers.is_possible_number(n) for n in _phone_numbers(value))


def _ssn_ok(value: str) -> bool:
    area, group, serial = re.split(r"[- ]", value)
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_IIN = re.compile(r"^(4|5[1-5]|2(2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|3(0[0-5]|[68])|6(011|5|4[4-9]|2)"
                  r"|35(2[89]|[3-8]\d)|2131|1800|5[06-9]|6\d)")
# How cards are printed: no separators, groups of four, or Amex/Diners 4-6-5 / 4-6-4.
_CARD_GROUPS = re.compile(r"\d+|(?:\d{4}[ -]){2,4}\d{1,4}|\d{4}[ -]\d{6}[ -]\d{4,5}")


def _card_shaped(value: str) -> str | None:
    """The digits of a card-shaped, Luhn-valid value; None otherwise."""
    if not _CARD_GROUPS.fullmatch(value):
        return None  # a phone number or an id with other grouping
    digits = re.sub(r"[ -]", "", value)
    return digits if 12 <= len(digits) <= 19 and digits.isdigit() and _luhn(digits) else None


def _card_ok(value: str) -> bool:
    digits = _card_shaped(value)
    return digits is not None and bool(_IIN.match(digits))


def _card_possible(value: str) -> bool:
    """Luhn-valid but outside the issuer table (new or private-label ranges)."""
    return _card_shaped(value) is not None


# A card's magnetic stripe: track 2 (`;PAN=YYMM…?`) or track 1 (`%B PAN^NAME^YYMM…?`). Sensitive
# authentication data: PCI DSS forbids storing it after authorization (3.3.1.1).
_TRACK = re.compile(r"(?:;?(\d{12,19})=(\d{2})(\d{2})\d{3}\d*\??)|(?:%?B(\d{12,19})\^[^^]{2,26}\^(\d{2})(\d{2})\d{3}[^?]*\??)")


def _track_ok(value: str) -> bool:
    match = _TRACK.fullmatch(value)
    if match is None:
        return False
    pan, month = (match.group(1), match.group(3)) if match.group(1) else (match.group(4), match.group(6))
    return _card_ok(pan) and 1 <= int(month) <= 12


def _mask_track(value: str) -> str:
    digits = re.match(r"\D*(\d+)", value)
    return "****" + (digits.group(1)[-4:] if digits else "")  # the card number's last four, like a card's mask


def _ip_ok(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.version == 4:
        return not value.startswith("0.")
    return value.count(":") >= 2 and value != "::"


_IBAN_LENGTHS = {"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
                 "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
                 "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
                 "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "BR": 29, "SA": 24, "AE": 23}


def _iban_ok(value: str) -> bool:
    iban = value.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# --- masks: enough to recognise the kind of value, never the value ---------------------------

def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    name, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{name[:1]}***.{tld}"


def _mask_tail(keep: int) -> Callable[[str], str]:
    def mask(value: str) -> str:
        digits = re.sub(r"\W", "", value)
        return "****" + digits[-keep:]
    return mask


def _mask_ip(value: str) -> str:
    if ":" in value:
        return value.split(":")[0] + ":****:****"
    return ".".join(value.split(".")[:1]) + ".***.***.***"


def _mask_iban(value: str) -> str:
    return value.replace(" ", "")[:2] + "**" + "****" + value.replace(" ", "")[-2:]


def _address_spans(text: str) -> list[tuple[int, int]]:
    from dataflow_governance.detection.freetext import address_spans

    return [(m.start, m.end) for m in address_spans(text)]


MODEL_BUDGET = 200  # texts the name model reads per column of a pushed-down scan (~3 ms each on a CPU)


def _free_text(name: str, prefilter: str, budget: int | None = None) -> FreeTextDetector:
    from dataflow_governance.detection.freetext import mask_words

    return FreeTextDetector(name, prefilter, re.compile(prefilter), lambda _value: True, mask_words, budget=budget)


DETECTORS: tuple[Detector, ...] = (
    Detector("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]*[A-Za-z]",
             re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), _email_ok, mask_email),
    Detector("phone", r"[+(]?[0-9][0-9 ().-]{6,}[0-9]",
             re.compile(r"(?<![\w.+-])\+?\(?\d[\d ().-]{6,}\d(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?(?![\w-])",
                        re.IGNORECASE), _phone_ok, _mask_tail(2), weak=_phone_possible, not_inside=_address_spans),
    Detector("ssn", r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}",
             re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])"), _ssn_ok, lambda v: "***-**-**" + v[-2:]),
    Detector("credit_card", r"[0-9](?:[ -]?[0-9]){11,18}",
             re.compile(r"(?<![\w-])(?<!\d\.)\d(?:[ -]?\d){11,18}(?![\w-]|\.\d)"), _card_ok, _mask_tail(4),
             weak=_card_possible, chance_hits=True),
    Detector("ip_address", r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*",
             re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"),
             _ip_ok, _mask_ip),
    Detector("track_data", r"[0-9]{12,19}=[0-9]{7}|B[0-9]{12,19}\^[^^]{2,26}\^[0-9]{7}",
             re.compile(r"(?<![\w])(?:;?\d{12,19}=\d{7}\d*\??|%?B\d{12,19}\^[^^]{2,26}\^\d{7}[^?\s]*\??)"),
             _track_ok, _mask_track),
    Detector("iban", r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}",
             re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Z0-9])"), _iban_ok, _mask_iban),
    # Free text. The prefilters are the cheap signs the warehouse can test: two capitalized words; a
    # house number beside a street word; a birth keyword. Only rows passing them reach the model.
    _free_text("person_name", r"[A-ZÀ-Þ][a-zß-ÿ]+[ ]+[A-ZÀ-Þ][a-zß-ÿ]+|(Mr|Mrs|Ms|Dr|Herr|Frau|Mme)[. ]", MODEL_BUDGET),
    _free_text("postal_address", r"[0-9] +[^ ]+ +([^ ]+ +)?(Street|St|Avenue|Ave|Road|Rd|Lane|Drive|Boulevard|Blvd|Way|Close"
                                 r"|Place|Court|Gardens|Terrace)|(stra(ß|ss)e|str\.|weg|platz|allee|gasse|ring|damm) +[0-9]"
                                 r"|[0-9],? +([Rr]ue|[Aa]venue|[Bb]oulevard|bd|[Pp]lace|[Cc]hemin|[Ii]mpasse|[Aa]llée|[Qq]uai) "
                                 r"|(Am|An der|Im|Zum|Zur) [A-Z][^ ]+ [0-9]"),
    _free_text("date_of_birth", r"[Bb]orn|[Bb]irth|DOB|[Dd]ob[=: ]|D\.O\.B|[Gg]eboren|[Gg]eb\.|Geburt|[Nn]ée? |[Nn]aissance"),
)
DETECTOR_NAMES = tuple(d.name for d in DETECTORS)
BY_NAME = {d.name: d for d in DETECTORS}


def combined_prefilter(detectors: Iterable[Detector]) -> str:
    """One alternation for all detectors: the engine tests each value once, not once per detector."""
    return "|".join(f"(?:{d.prefilter})" for d in detectors)


def allowing(detectors: Iterable[Detector], allow: Iterable[str]) -> tuple[Detector, ...]:
    """The detectors, each passing over the values an asset allows (a product, a company, its own
    support address): compared without regard to case."""
    allowed = frozenset(a.casefold() for a in allow)
    return tuple(replace(d, allow=allowed) if allowed else d for d in detectors)


def unavailable(detectors: Iterable[Detector]) -> dict[str, str]:
    """Detector name → why it cannot run here (its model is not installed)."""
    return {d.name: reason for d in detectors if (reason := d.unavailable())}


def select_detectors(names: Iterable[str] | None) -> tuple[Detector, ...]:
    if names is None:
        return DETECTORS
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown detector(s) {', '.join(unknown)}; known: {', '.join(DETECTOR_NAMES)}")
    return tuple(BY_NAME[n] for n in names)


def matches(detector: Detector, text: str) -> Iterator[str]:
    """Validated occurrences of the detector in `text` (free text included)."""
    for candidate in detector.candidates(text):
        if detector.validate(candidate):
            yield candidate


def detect_value(text: str, detectors: Iterable[Detector] = DETECTORS) -> dict[str, list[str]]:
    """Detector name → validated occurrences in one value (empty detectors left out)."""
    found = {}
    for detector in detectors:
        hits = list(matches(detector, text))
        if hits:
            found[detector.name] = hits
    return found


# The fideslang category each detector finds; a column declared with it (or a parent) may hold it.
DETECTOR_CATEGORY = {
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "ssn": "user.government_id.national_identification_number",
    "credit_card": "user.financial.credit_card",
    "track_data": "user.financial.credit_card",
    "ip_address": "user.device.ip_address",
    "iban": "user.financial.bank_account",
    "person_name": "user.name",
    "postal_address": "user.contact.address.street",
    "date_of_birth": "user.demographic.date_of_birth",
}
