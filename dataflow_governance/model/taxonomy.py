"""The vocabulary governance facts are written in: fideslang's default taxonomy plus GDPR terms.

Categories, data uses and data subjects are fideslang keys; a key is valid when the default
taxonomy holds it. Hierarchy questions ("is analytics.reporting covered by a consent for
analytics?") are answered on the dotted keys, which is how fideslang itself nests them.
"""

from __future__ import annotations

from functools import cache

from fideslang import DEFAULT_TAXONOMY

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


@cache
def data_categories() -> frozenset[str]:
    return frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_category)


@cache
def data_uses() -> frozenset[str]:
    return frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_use)


@cache
def data_subjects() -> frozenset[str]:
    return frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_subject)


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
