"""The vocabulary governance facts are written in: fideslang's default taxonomy plus GDPR terms.

Categories, data uses and data subjects are fideslang keys; a key is valid when the default
taxonomy holds it. Hierarchy questions ("is analytics.reporting covered by a consent for
analytics?") are answered on the dotted keys, which is how fideslang itself nests them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.util import find_spec
from pathlib import Path

# fideslang's keys, as the installed version's default taxonomy holds them (checked by a test):
# reading them costs a file read, where importing fideslang's models costs ~60 ms on every command.
KEYS_SNAPSHOT = Path(__file__).resolve().parent.parent / "schemas" / "fideslang_keys.json"
KINDS = ("data_category", "data_use", "data_subject")

# GDPR Art. 6(1) lawful bases, by the names practitioners use and the article point.
LEGAL_BASES: dict[str, str] = {
    "consent": "Art. 6(1)(a)",
    "contract": "Art. 6(1)(b)",
    "legal_obligation": "Art. 6(1)(c)",
    "vital_interests": "Art. 6(1)(d)",
    "public_task": "Art. 6(1)(e)",
    "legitimate_interests": "Art. 6(1)(f)",
}

# GDPR Art. 9(2) conditions for special categories of personal data.
ART9_CONDITIONS: dict[str, str] = {
    "explicit_consent": "Art. 9(2)(a)",
    "employment_social_security": "Art. 9(2)(b)",
    "vital_interests": "Art. 9(2)(c)",
    "not_for_profit_body": "Art. 9(2)(d)",
    "manifestly_made_public": "Art. 9(2)(e)",
    "legal_claims": "Art. 9(2)(f)",
    "substantial_public_interest": "Art. 9(2)(g)",
    "health_or_social_care": "Art. 9(2)(h)",
    "public_health": "Art. 9(2)(i)",
    "archiving_research_statistics": "Art. 9(2)(j)",
}

# fideslang categories that are GDPR Art. 9 special categories (and Art. 10 criminal data).
SPECIAL_CATEGORY_ROOTS: tuple[str, ...] = (
    "user.biometric",
    "user.health_and_medical",
    "user.demographic.race_ethnicity",
    "user.demographic.political_opinion",
    "user.demographic.religious_belief",
    "user.demographic.sexual_orientation",
    "user.criminal_history",
)

# Protected health information under HIPAA: fideslang's health branches.
HEALTH_CATEGORY_ROOTS: tuple[str, ...] = ("user.health_and_medical", "user.biometric.health")
CARD_CATEGORY = "user.financial.credit_card"  # a payment card's data; PCI DSS scope starts at its number

SENSITIVITIES: tuple[str, ...] = ("public", "internal", "confidential", "restricted")


def live_keys() -> dict[str, frozenset[str]]:
    """The keys of the installed fideslang's default taxonomy, by kind."""
    from fideslang import DEFAULT_TAXONOMY

    return {kind: frozenset(item.fides_key for item in getattr(DEFAULT_TAXONOMY, kind)) for kind in KINDS}


def snapshot_keys() -> tuple[str, dict[str, frozenset[str]]]:
    """(fideslang version, keys by kind) of the snapshot shipped with the package."""
    data = json.loads(KEYS_SNAPSHOT.read_text())
    return data["fideslang"], {kind: frozenset(data[kind]) for kind in KINDS}


@cache
def _keys() -> dict[str, frozenset[str]]:
    """The snapshot when it was taken of the fideslang installed; else fideslang itself."""
    version, keys = snapshot_keys()
    return keys if version == installed_fideslang() else live_keys()


def installed_fideslang() -> str | None:
    """The installed fideslang's version, from its dist-info folder's name (importlib.metadata
    would cost more than the snapshot saves); None when it cannot be told that way."""
    spec = find_spec("fideslang")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.parent.glob("fideslang-*.dist-info"))
    return found[0].name.removeprefix("fideslang-").removesuffix(".dist-info") if len(found) == 1 else None


def data_categories() -> frozenset[str]:
    return _keys()["data_category"]


def data_uses() -> frozenset[str]:
    return _keys()["data_use"]


def data_subjects() -> frozenset[str]:
    return _keys()["data_subject"]


def write_snapshot() -> None:
    """Refresh the snapshot from the installed fideslang (`python -m dataflow_governance.model.taxonomy`,
    after changing its pin)."""
    from importlib import metadata

    keys = live_keys()
    KEYS_SNAPSHOT.write_text(json.dumps({"fideslang": metadata.version("fideslang"),
                                         **{kind: sorted(keys[kind]) for kind in KINDS}}, indent=1) + "\n")


def is_within(key: str, ancestor: str) -> bool:
    """True when `key` is `ancestor` or nested below it in the dotted taxonomy."""
    return key == ancestor or key.startswith(ancestor + ".")


def is_personal_category(category: str) -> bool:
    # fideslang's `user` branch is data about a person; `system` and `user.unique_id.pseudonymous`
    # still count as personal under GDPR (pseudonymous data is personal data, Recital 26).
    return is_within(category, "user")


# Categories whose value singles out one person (a direct identifier), as opposed to attributes
# many people share (country, age range, gender): a GROUP BY on one of these keeps one row per
# person, so neither the key nor the aggregates beside it are anonymous. Listed conservatively.
DIRECT_IDENTIFIER_ROOTS = (
    "user.unique_id", "user.account.username", "user.contact.email", "user.contact.phone_number",
    "user.contact.fax_number", "user.contact.address.street", "user.name", "user.government_id",
    "user.device.cookie_id", "user.device.device_id", "user.device.ip_address", "user.financial.bank_account",
    "user.financial.credit_card", "user.payment", "user.authorization.credentials", "user.biometric",
    "user.health_and_medical.record_id", "user.health_and_medical.insurance_beneficiary_id",
    "user.location.precise", "user.content.self_image",
)


@cache  # asked for every column of every asset at each load: keys repeat
def is_direct_identifier(category: str) -> bool:
    # (`user.contact.address` itself is a whole address; its `country` or `city` is not.)
    return category == "user.contact.address" or any(is_within(category, root) for root in DIRECT_IDENTIFIER_ROOTS)


@cache  # asked for every column of every asset at each load: keys repeat
def is_special_category(category: str) -> bool:
    return any(is_within(category, root) for root in SPECIAL_CATEGORY_ROOTS)


@cache  # asked for every column of every asset at each load: keys repeat
def is_health_category(category: str) -> bool:
    return any(is_within(category, root) for root in HEALTH_CATEGORY_ROOTS)


def jurisdiction(region: str) -> str:
    """The legal area a storage region lies in: `eu-central-1` → `EU`, `us-east-1` → `US`.

    EU/EEA transfers are free under GDPR; anything else is a third-country transfer.
    """
    prefix = region.split("-", 1)[0].lower()
    return {"eu": "EU", "eea": "EU", "us": "US", "uk": "UK", "ca": "CA", "ap": "APAC", "sa": "SA",
            "me": "ME", "af": "AF", "il": "IL", "mx": "MX"}.get(prefix, prefix.upper())


def suggest(value: str, allowed: frozenset[str] | tuple[str, ...], limit: int = 5) -> list[str]:
    """Closest allowed keys, so an error can say what was probably meant."""
    import difflib

    return difflib.get_close_matches(value, sorted(allowed), n=limit, cutoff=0.5)


if __name__ == "__main__":
    write_snapshot()
