"""Classification levels: public < internal < confidential < restricted, derived from categories.

Personal data is confidential; direct identifiers, credentials, health data (PHI) and card data are
restricted. A column's declared `sensitivity` can raise its level, never lower it below what its
categories say. The mapping is configurable (`classification.levels` in the manifest: a category,
or a parent of categories, → a level; the most specific entry wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dataflow_governance.model import taxonomy

LEVELS = ("public", "internal", "confidential", "restricted")

DEFAULT_LEVELS: Mapping[str, str] = {
    "user": "confidential",
    "user.name": "restricted",
    "user.contact.email": "restricted",
    "user.contact.phone_number": "restricted",
    "user.contact.address.street": "restricted",
    "user.government_id": "restricted",
    "user.authorization": "restricted",
    "user.financial": "restricted",
    "user.health_and_medical": "restricted",
    "user.biometric": "restricted",
    "user.genetic": "restricted",
    "user.unique_id.pseudonymous": "confidential",
    "system": "internal",
}


def rank(level: str) -> int:
    return LEVELS.index(level)


def highest(levels: Iterable[str]) -> str:
    """The highest of `levels` (internal when there are none: data nobody classified is not public)."""
    return max(levels, key=rank, default="internal")


def category_level(category: str, mapping: Mapping[str, str] = DEFAULT_LEVELS) -> str:
    """The level of one category: its most specific entry in `mapping`, else confidential when it
    is personal, else internal."""
    parts = category.split(".")
    for end in range(len(parts), 0, -1):
        found = mapping.get(".".join(parts[:end]))
        if found:
            return found
    return "confidential" if taxonomy.is_personal_category(category) else "internal"


def data_level(categories: Iterable[str], declared: str | None = None, mapping: Mapping[str, str] = DEFAULT_LEVELS,
               anonymous: bool = False) -> str:
    """The level of data of these categories: the highest of theirs and the one declared for it.
    Anonymous data (aggregated, masked out of personal) is internal unless declared higher."""
    derived = "internal" if anonymous else highest(category_level(c, mapping) for c in categories)
    return highest([derived, declared]) if declared else derived
