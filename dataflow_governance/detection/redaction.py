"""Personal data out of free text before it moves on: every detector's validated finding replaced
by its kind (`[email]`, `[person_name]`, `[postal_address]`, …). For pipelines that clean text
(`tickets_clean`), and for showing a passage without other people's data in it."""

from __future__ import annotations

from collections.abc import Iterable

from dataflow_governance.detection.detectors import DETECTORS, Detector, unavailable


def redact_personal(text: str, detectors: Iterable[Detector] = DETECTORS, keep: Iterable[str] = ()) -> str:
    """`text` with what the detectors find replaced by `[detector]`; `keep` values stay as they are.

    Raises `nlp.ModelUnavailable` when names are asked for and no model is installed: text said to
    be clean must not keep names because a package was missing.
    """
    detectors = tuple(detectors)
    missing = unavailable(detectors)
    if missing:
        from dataflow_governance.detection.nlp import ModelUnavailable

        raise ModelUnavailable("; ".join(missing.values()))
    kept = {k.casefold() for k in keep}
    found = sorted({(value, d.name) for d in detectors for value in d.candidates(text)
                    if d.validate(value) and value.casefold() not in kept}, key=lambda f: -len(f[0]))
    for value, name in found:  # (longest first: an email is not cut by a name inside it)
        text = text.replace(value, f"[{name}]")
    return text


def redact_many(texts: Iterable[str], detectors: Iterable[Detector] = DETECTORS) -> list[str]:
    """`redact_personal` of each text, the names of all of them found in one pass of the model
    (a column's worth at a time is many times faster than text by text)."""
    from dataflow_governance.detection import freetext

    texts, detectors = list(texts), tuple(detectors)
    if any(d.name == "person_name" for d in detectors) and not unavailable(detectors):
        freetext.prepare(t[:freetext.MAX_TEXT_CHARS] for t in texts if t)
    return [redact_personal(t, detectors) if t else t for t in texts]
