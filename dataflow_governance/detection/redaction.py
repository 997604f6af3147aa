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
