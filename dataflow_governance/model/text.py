"""Text that is shown, stored or compared as a name: no control characters, no invisible format
characters (bidi overrides such as U+202E, zero-width joiners), no line or paragraph separators.

Such characters make a ledger entry, a terminal line or a report say something other than what
it holds (an approver "dpo" that reads backwards, an ESC sequence that rewrites the screen), so
names with them are refused rather than cleaned.
"""

from __future__ import annotations

import unicodedata

_REFUSED = {"Cc": "a control character", "Cf": "an invisible format character (e.g. a bidi override)",
            "Zl": "a line separator", "Zp": "a paragraph separator", "Cs": "a lone surrogate",
            "Co": "a private-use character", "Cn": "an unassigned character"}


def unsafe_character(text: str) -> str | None:
    """What is wrong with the first refused character of `text` (`U+202E, an invisible …`), or None."""
    for char in text:
        kind = _REFUSED.get(unicodedata.category(char))
        if kind:
            return f"U+{ord(char):04X}, {kind}"
    return None
