"""Person names, postal addresses and dates of birth in free text: precision and recall per entity
on the labelled corpus (`freetext_corpus.py`), beside the candidates measured in the same run:

- Presidio's default analyzer with the same spaCy model (PERSON; LOCATION for addresses, as it has
  no address recognizer; DATE_TIME for dates of birth);
- pyap2, a maintained address parser (US, Canada, UK), for addresses;
- the project's detectors (`detection.freetext`).

A mention counts when it overlaps a labelled span of its kind; a labelled span is found when a
mention of its kind overlaps it.

    python benchmarks/freetext_pii.py [--lines 2000] [--seed 31]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from freetext_corpus import KINDS, Line, corpus

from dataflow_governance.detection import freetext, nlp

Found = list[tuple[str, int, int]]


def ours(lines: list[Line]) -> list[Found]:
    texts = [line.text for line in lines]
    addresses = [freetext.address_spans(t) for t in texts]
    names = freetext.person_names(texts, addresses)
    return [[(m.kind, m.start, m.end) for m in [*addresses[i], *names[i], *freetext.birth_dates(t)]]
            for i, t in enumerate(texts)]


def presidio(lines: list[Line]) -> list[Found]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    model = nlp.pipeline().meta["name"]
    engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": f"en_{model}"}]}).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    as_kind = {"PERSON": "person_name", "LOCATION": "postal_address", "DATE_TIME": "date_of_birth"}
    out = []
    for line in lines:
        results = analyzer.analyze(line.text, language="en", entities=list(as_kind))
        out.append([(as_kind[r.entity_type], r.start, r.end) for r in results])
    return out


def pyap2(lines: list[Line]) -> list[Found]:
    import pyap

    out = []
    for line in lines:
        found = []
        for country in ("US", "GB"):
            for address in pyap.parse(line.text, country=country):
                text = address.full_address
                start = line.text.find(text)
                if start >= 0:
                    found.append(("postal_address", start, start + len(text)))
        out.append(found)
    return out


def score(lines: list[Line], found: list[Found], kind: str) -> tuple[float, float, float]:
    tp_pred = n_pred = hit_gold = n_gold = 0
    for line, mentions in zip(lines, found):
        gold = [(s, e) for k, s, e in line.spans if k == kind]
        pred = [(s, e) for k, s, e in mentions if k == kind]
        n_pred, n_gold = n_pred + len(pred), n_gold + len(gold)
        tp_pred += sum(any(s < ge and gs < e for gs, ge in gold) for s, e in pred)
        hit_gold += sum(any(s < ge and gs < e for s, e in pred) for gs, ge in gold)
    precision = tp_pred / n_pred if n_pred else 0.0
    recall = hit_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def phone_in_addresses(lines: list[Line]) -> None:
    """Lines holding an address (and no phone number): how many the phone detector flags, without
    and with the address context (a house number beside a postcode is not a phone number)."""
    from dataclasses import replace

    from dataflow_governance.detection.detectors import BY_NAME, matches

    with_context = BY_NAME["phone"]
    without = replace(with_context, not_inside=None)
    spans = [(line, [(s, e) for k, s, e in line.spans if k == "postal_address"]) for line in lines]
    addresses = [line.text[s:e] for line, found in spans for s, e in found]
    flagged = sum(bool(list(matches(without, a))) for a in addresses)
    kept = sum(bool(list(matches(with_context, a))) for a in addresses)
    print(f"phone detector on {len(addresses)} addresses: {flagged} flagged without address context "
          f"({flagged / len(addresses):.1%}), {kept} with it ({kept / len(addresses):.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=31)
    args = parser.parse_args()
    lines = corpus(args.lines, args.seed)
    nlp.pipeline()  # (loaded before timing: both spaCy users share it)
    runs: dict[str, Callable[[list[Line]], list[Found]]] = {"dataflow-governance": ours, "presidio default": presidio,
                                                             "pyap2 (addresses)": pyap2}
    results = {}
    for name, run in runs.items():
        started = time.perf_counter()
        results[name] = run(lines)
        print(f"{name:22} {len(lines) / (time.perf_counter() - started):8.0f} lines/s")
    print(f"\n{len(lines)} lines, model {nlp.pipeline().meta['name']} {nlp.pipeline().meta['version']}; "
          f"labelled: " + ", ".join(f"{k} {sum(s[0] == k for line in lines for s in line.spans)}" for k in KINDS))
    print(f"{'entity':16} {'detector':22} {'precision':>9} {'recall':>7} {'F1':>6}")
    best = {}
    for kind in KINDS:
        for name in runs:
            if name.startswith("pyap2") and kind != "postal_address":
                continue
            p, r, f = score(lines, results[name], kind)
            best.setdefault(kind, {})[name] = f
            print(f"{kind:16} {name:22} {p:9.3f} {r:7.3f} {f:6.3f}")
    print()
    phone_in_addresses(lines)
    for kind, by in best.items():
        print(f"{kind}: F1 ratio ours / presidio default = {by['dataflow-governance'] / max(by['presidio default'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
