"""Text for people: every command's answer rendered from the same payload --json prints.

Rendering only — nothing here computes, reads the warehouse or calls a service.
"""

from __future__ import annotations

import json
from pathlib import Path


def findings(items) -> str:
    errors = sum(f.severity == "error" for f in items)
    lines = [f"{f.severity.upper():7} {f.asset}: [{f.rule}] {f.message}\n        fix: {f.fix}" for f in items]
    return "\n".join([*lines, f"{len(items)} finding(s), {errors} error(s)"])


def statement_lineage(result) -> list[str]:
    lines = [f"{column} ← " + (", ".join(f"{d.table}.{d.column} [{d.transformation}{', masked' if d.masking else ''}]"
                                       for d in item.direct) or "(no column)")
             + ("".join(f"\n    ambiguous: {a.column} in one of {', '.join(a.candidates)}" for a in item.ambiguous))
             + ("\n    influenced by " + ", ".join(f"{i.table}.{i.column} [{i.kind}]" for i in item.indirect)
                if item.indirect else "")
             for column, item in result.columns.items()]
    lines.append(f"tables: {', '.join(result.tables)}" + (f"  → {result.target}" if result.target else ""))
    return lines + [f"warning: {w}" for w in result.warnings]


def script_lineage(script) -> str:
    text = []
    for number, statement in zip(script.numbers, script.statements):
        text += [f"-- statement {number}" + (f": {statement.kind} {statement.target}" if statement.target else ""),
                 *statement_lineage(statement)]
    text += [f"-- skipped {line}" for line in script.skipped]
    for table, columns in script.end_to_end.items():
        text += [f"-- end to end: {table}"] + [f"{name} ← " + (", ".join(f"{d.table}.{d.column}" for d in c.direct)
                                                                or "(no column)") for name, c in columns.items()]
    return "\n".join(text)


def asset_lineage(payload: dict) -> str:
    return "\n".join(
        f"{c}: {', '.join(d['table'] + '.' + d['column'] + ' [' + d['transformation'] + ']' for d in v['direct']) or '(no column)'}"
        f"  → {', '.join(payload['classification'][c]['categories']) or 'no categories'}"
        f"{' (anonymous)' if payload['classification'][c]['anonymous'] else ''}"
        for c, v in payload["columns"].items())


def column_walk(payload: dict, direction: str) -> str:
    nodes = payload[direction]
    def label(node: dict) -> str:
        # ("*": the column graph's node of an asset as a whole, `lineage.graph.TABLE_LEVEL`)
        whole = " (the whole asset: its code declares no column lineage)" if node["column"] == "*" else ""
        return f"  {node['asset']}.{node['column']}{whole}"

    return f"{direction} of {payload['column']}:\n" + ("\n".join(label(n) for n in nodes) or "  (nothing)")


def scan(report) -> str:
    from dataflow_governance.detection.freetext import MAX_TEXT_CHARS

    lines = [f"{report.target}: {report.rows_scanned} rows scanned" + (f" (sample {report.sample})" if report.sample else "")]
    for column, col in report.columns.items():
        if col.findings:
            lines.append(f"  {column}: " + ", ".join(f"{d} {n} rows (e.g. {', '.join(col.examples.get(d, []))})"
                                                     for d, n in col.findings.items()))
        if col.cut_short:
            lines.append(f"  {column}: {col.cut_short} value(s) cut short (searched up to their first "
                         f"{MAX_TEXT_CHARS:,} characters)")
    lines.append(f"{report.total_findings} finding(s)")
    lines += [f"NOT SEARCHED for {name}: {reason}" for name, reason in report.unavailable.items()]
    return "\n".join(lines)


def residency(results, flows: list[dict]) -> str:
    lines = [f"{'ok  ' if r.passed else 'FAIL'} {r.asset} [{r.check}] {r.message}" for r in results]
    lines += [f"FAIL {f['asset']} [region-crossing] {f['message']}" for f in flows]
    return "\n".join(lines) or "no asset declares a region"


def erasure(result) -> str:
    lines = [f"{result.kind} of {result.what} {result.subject}: {result.status}" + (f" (due {result.due})" if result.due else "")]
    marks = {"verified": "  verified", "failed": "  NOT VERIFIED", "pending": "  pending", "planned": "",
             "outstanding": "  OUTSTANDING (an operator's step)", "confirmed": "  confirmed by an operator"}
    lines += [f"  {t.system:9} {t.target:45} {t.action:9} {t.count:>6} {t.unit}"
              + (f" ({t.retained} kept under a legal hold)" if t.retained else "")
              + marks[t.outcome] + (f" — {t.pending or t.problem}" if t.pending or t.problem else "")
              + (f" — {len(t.unsearched)} object(s) not searched: {', '.join(t.unsearched[:3])}"
                 + (" …" if len(t.unsearched) > 3 else "") if t.unsearched else "")
              for t in result.targets]
    lines += [f"  outstanding: {step}" for step in result.to_dict().get("outstanding", [])]
    lines.append(f"ledger head {result.ledger_head}")
    if result.status == "planned" and result.due:
        # Easy to miss: without --now, nothing was erased yet.
        flag = "--subject-id" if result.what == "subject" else "--tenant"
        lines.append(f"QUEUED, NOTHING ERASED YET: the request is filed and due on {result.due[:10]} (UTC) at the end of its "
                     f"grace period; run the same command ({flag} …) on or after that date to carry it out, "
                     "or add --now to carry it out now (--cancel withdraws it meanwhile)")
    return "\n".join(lines)


def sweep(result: dict, dry_run: bool) -> str:
    lines = [f"{'plan' if dry_run else 'sweep'}{' (resumed)' if result['resumed'] else ''}:"]
    lines += [f"  {asset:24} {v['action']:9} {v['affected']:>8} rows/objects older than {v['cutoff']}"
              + (f", {v['held']} held" if v["held"] else "") + (f"  ({v['skipped']})" if v.get("skipped") else "")
              + (f"  NOT APPLIED — {v['problem']}" if v.get("problem") else "")
              for asset, v in result["assets"].items()]
    verb = "would remove" if dry_run else "removed"
    lines += [f"  {asset:24} suppression {verb} {n} record(s) of erased subjects or offboarded tenants that had come back"
              for asset, n in result["suppressed"].items()]
    lines.append(f"ledger head {result['ledger_head']}")
    return "\n".join(lines)


def access(export: dict) -> str:
    """The subject's own data, record by record (this answer is for the subject: it holds values)."""
    erased = export.get("erased")
    if erased:
        return (f"subject {export['subject']}: erased on {erased['on']} ({erased['status']}, ledger entry "
                f"{erased['ledger_seq']}); nothing is held about them now"
                + (f"\ncertificate: {erased['certificate']}" if erased.get("certificate") else ""))
    lines = []
    for asset, found in export["assets"].items():
        records, mentions = found["records"], found.get("mentions", [])
        lines.append(f"{asset}: {len(records)} record(s)" + (f", named in {len(mentions)} place(s) of others' text"
                                                            if mentions else "")
                     + f", reached via {' → '.join(found['lineage'])}")
        for number, record in enumerate(records, 1):
            width = max(map(len, record), default=0)
            lines.append(f"  record {number}")
            lines += [f"    {field:{width}}  {_record_value(value)}" for field, value in record.items()]
        lines += [f"  mentioned in {m['column']}: {m['context']}" for m in mentions]
    training = export.get("training", {})
    lines += [f"training dataset {d['asset']}: {d.get('rows', '?')} rows, {d['digest']}" for d in training.get("datasets", [])]
    lines += [f"model {m['model']}:{m['version']} trained on a dataset holding the subject" for m in training.get("models", [])]
    lines += [f"{asset}: {n} object(s) in a format that could not be searched" for asset, n in export.get("not_searched", {}).items()]
    return "\n".join(lines)


def _record_value(value) -> str:
    return "" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _csv_cell(value) -> str:
    # Text a spreadsheet would run as a formula (OWASP's CSV injection) is kept as text.
    text = _record_value(value)
    return "'" + text if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def access_file(export: dict, fmt: str) -> str:
    """The access export as a file: the JSON answer, or CSV with one line per field of each record."""
    if fmt == "json":
        return json.dumps(export, indent=2, default=str)
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["asset", "record", "field", "value"])
    for asset, found in export["assets"].items():
        for number, record in enumerate(found["records"], 1):
            writer.writerows([asset, number, field, _csv_cell(value)] for field, value in record.items())
        for number, mention in enumerate(found.get("mentions", []), 1):
            writer.writerow([asset, f"mention {number}", mention["column"], _csv_cell(mention["context"])])
    return buffer.getvalue()


def verification(result) -> str:
    if result.ok:
        return (f"{result.entries} entries verified, head {result.head_hash} (seq {result.head_seq}; "
                f"{result.anchors_checked} anchors)")
    return (f"LEDGER DAMAGED: {result.damage} at entry {result.first_bad_seq} — {result.explanation}\n"
            f"{result.entries} entries read; restore the table from a verified export and investigate")


def ledger_export(entries, result) -> str:
    return ("\n".join(f"{e.seq:>8} {e.ts} {e.actor:20} {e.action:24} {e.target}" for e in entries)
            + f"\n{len(entries)} entries; chain {'intact' if result.ok else 'DAMAGED: ' + str(result.damage)}")


def datasets(items: list[dict]) -> list[str]:
    return [f"  dataset {d['asset']}: {d['rows']} rows, {d['digest']}\n    snapshot {d['snapshot_uri']}"
            + (f" (version {d['version_id']})" if d.get("version_id") else "")
            + (f"\n    DELETED by erasure (ledger entry {d['deleted']['seq']})" if d.get("deleted") else "")
            + (f"\n    sources: {', '.join(d['sources'])}" if d.get("sources") else "")
            + (f"\n    upstream: {', '.join(d['upstream'])}" if d.get("upstream") else "") for d in items]


def models(items: list[dict]) -> list[str]:
    return [f"  model {m['model']}:{m['version']} (run {m['mlflow_run_id']})"
            + ("  NEEDS RETRAINING" if m.get("needs_retraining") else "") for m in items]


def reproduction(name: str, result: dict) -> str:
    return "\n".join([
        f"{name}:{result['version']} retrained on verified snapshot(s) (run {result['reproduced_run_id']})",
        *(f"  {d['asset']}: {d['digest']} verified" for d in result["datasets"]),
        "  metrics " + ("match the recorded run" if result["metrics_match"] else "DIFFER from the recorded run")
        + ": " + ", ".join(f"{k}={v:g}" for k, v in sorted(result["metrics"].items())),
        "  the fitted model is " + ("identical to" if result["identical"] else "NOT identical to")
        + f" the recorded one ({result['model_fingerprint']})"])


def provenance(head: list[str], result: dict, problems: list[str] | None) -> str:
    text = [*head, *datasets(result["datasets"]), *models(result.get("models", [])),
            *(f"  PROBLEM: {p}" for p in problems or ())]
    if problems is not None:
        text.append(f"{len(problems)} problem(s) found" if problems else
                    f"verified: {len(result['datasets'])} snapshot(s) intact (bytes, digest, version)")
    return "\n".join(text)


def demo(summary: dict) -> str:
    return "\n".join([
        f"materialized {summary['materialized']} of {summary['assets']} assets "
        f"({'ok' if summary['run_success'] else 'FAILED'})",
        f"checks: {summary['checks_passed']} passed, {summary['checks_failed']} failed"
        + "".join(f"\n  FAILED {name}" for name in summary.get("failed_checks", [])),
        f"policy findings: {summary['findings']} ({summary['finding_errors']} errors)",
        f"warehouse: {summary['warehouse']}",
        *([f"s3 endpoint: {summary['s3_endpoint_url']}"] if summary.get("s3_endpoint_url") else []),
        f"ledger: {summary['ledger_entries']} entries, head {summary['ledger_head']}",
        *([f"OpenLineage: {summary['openlineage_events']} events emitted"]
          if summary.get("openlineage_events") is not None else []),
        *([f"PHI access audit: {summary['phi_access_entries']} ledger entries"]
          if summary.get("phi_access_entries") else []),
        *(f"model {m['model']}:{m['version']} registered (MLflow run {m['mlflow_run_id']})" for m in summary["models"]),
        f"reports in {summary['output_dir']}: " + ", ".join(Path(p).name for p in summary["reports"]),
    ])


def boundaries(payload: dict) -> str:
    lines = [f"{c['flow']:32} {c['from']} → {c['to']} ({c['protocol']}; {' → '.join(c['zones'])}; {c['kind']}; {c['level']})"
             + ("" if c["declared"] else " derived")
             + (f"\n{'':34}missing: {', '.join(c['missing'])}" if c["missing"] else "") for c in payload["crossings"]]
    if not payload["declared"]:
        lines.append("(no systems: or flows: declared — the map is what the project's stores and processors say; "
                     "the boundary rules run once the project declares its systems)")
    lines += [f"{f['severity'].upper():7} {f['asset']}: [{f['rule']}] {f['message']}" for f in payload["findings"]]
    lines.append(f"{len(payload['crossings'])} crossing(s); reports: {', '.join(Path(r).name for r in payload['reports'])}")
    return "\n".join(lines)


def catalog_status(payload: dict) -> str:
    if payload.get("authentic") is False:
        state = "NOT AUTHENTIC: its MAC does not verify (edited by hand?); run `dfg catalog build`"
    elif payload["changed"]:
        state = "STALE: changed " + ", ".join(payload["changed"]) + "; run `dfg catalog build`"
    else:
        state = "fresh" + ("" if payload.get("authentic") else " (unauthenticated: the project has no subject key yet)")
    return f"{payload['path']}: {payload['assets']} governed assets, built {payload['generated_at']}, {state}"


def key_values(payload: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in payload.items())


def review_markdown(payload: dict) -> str:
    """`dfg diff` as a pull-request comment: what the change does to personal data, worst first."""
    base, head, counts = payload["base"], payload["head"], payload["counts"]
    head_name = head["commit"][:12] if head["commit"] != head["ref"] else head["ref"]
    lines = [f"## Governance review: {base['ref']} ({base['commit'][:12]}) → {head['ref']}"
             + (f" ({head_name})" if head_name != head["ref"] else ""), ""]
    changes = payload["changes"]
    if not changes:
        lines.append("No change to personal data: the data map is the same.")
    else:
        lines.append(f"**{len(changes)} change(s) to the data map**: {counts['error']} error(s), "
                     f"{counts['warning']} to review, {counts['info']} note(s).")
        lines += ["", "| severity | change | on | what |", "|---|---|---|---|"]
        for change in changes:
            lines.append(f"| {change['severity']} | {change['kind']} | `{change['subject']}` | "
                         f"{_cell(change['message'])} |")
    lines += ["", f"Catalog fingerprints: base `{base['fingerprint']}`, head `{head['fingerprint']}`."]
    if "approvals" in payload:
        approvals = payload["approvals"]
        lines.append("Head's data map approved by " + ", ".join(f"{a['approver']} ({a['role']}, ledger entry {a['seq']})"
                                                            for a in approvals) + "." if approvals else
                     "Head's data map is not approved yet: `dfg review approve --ref <head> --as <role>`.")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def pci_scope(scope) -> str:
    titles = {"cde": "cardholder data environment", "connected": "connected-to systems (in scope)",
              "out": "out of scope"}
    lines = []
    for kind, title in titles.items():
        members = sorted((e for e in scope.entries.values() if e.scope == kind), key=lambda e: e.asset)
        lines.append(f"{title}: {len(members)}")
        lines += [f"  {e.asset}{' [tokenization boundary]' if e.boundary else ''}: {'; '.join(e.reasons)}"
                  for e in members]
    if scope.service_providers:
        lines.append("service providers receiving PAN:")
        lines += [f"  {name}: from {', '.join(senders)}" for name, senders in sorted(scope.service_providers.items())]
    return "\n".join(lines)


def disclosures(payload: dict) -> str:
    lines = [f"accounting of disclosures of PHI{' since ' + payload['since'] if payload['since'] else ''}:"]
    lines += [f"  {d['when']}  {d['recipient']:16} {d['asset']} for {', '.join(d['purposes']) or '(no purpose declared)'}"
              f"  (run {d['run_id']}, job {d['job']})" for d in payload["disclosures"]]
    if not payload["disclosures"]:
        lines.append("  (none recorded)")
    lines.append("the subject's PHI is held in: " + (", ".join(f"{a} ({n} row(s))" for a, n in payload["holding"].items())
                                                   or "no disclosing asset"))
    lines += [f"not covered: {gap}" for gap in payload["gaps"]]
    return "\n".join(lines)


def incident(report: dict) -> str:
    back, onward, exposure = report["backward"], report["forward"], report["exposure"]
    lines = [f"incident: {report['category']} found in {report['found_in']} (asset {report['asset']})",
             f"backward: {back['explanation']}"]
    lines += [f"  {column}: from {', '.join(p['origins'])} via {', '.join(p['through']) or 'a direct copy'}"
              for column, p in back["paths"].items()]
    if back["candidates"]:
        lines.append(f"  candidates: {', '.join(back['candidates'])}")
    lines.append(f"forward: {', '.join(onward['assets']) or 'no derived assets'}"
                 + (f"; processors receiving them: {', '.join(onward['processors'])}" if onward["processors"] else ""))
    if exposure["measured"]:
        held = f"{exposure['objects']} object(s), " if exposure["objects"] else ""
        lines.append(f"exposure now: {held}{exposure['rows']} record(s) hold it"
                     + (f" (columns {', '.join(sorted(exposure['columns']))}; e.g. {', '.join(exposure['examples'])})"
                        if exposure["columns"] else "")
                     + (f"; the oldest since {exposure['oldest']}" if exposure["oldest"] else ""))
    else:
        lines.append(f"exposure now: {exposure['note']}")
    if exposure.get("first_detected"):
        lines.append(f"  first found by a PII check at {exposure['first_detected']} (ledger)")
    if exposure["retention"]:
        lines.append(f"  retention bounds it: {exposure['retention']}")
    lines.append("who can read it: " + "; ".join(f"{a}: {r['owner']}" + (f" (+ {', '.join(r['processors'])})"
                                                                           if r["processors"] else "")
                                                 for a, r in report["readers"].items()))
    lines.append("remediation plan:")
    lines += [f"  {i}. {step}" for i, step in enumerate(report["plan"], 1)]
    return "\n".join(lines)


def saga_trace(trace: dict) -> str:
    """Why a saga ended as it did, and where its data went (names and times, never values)."""
    lines = [f"saga {trace['saga']} {trace['id']}: {trace['status'].upper()} (created {trace['created_at']})"]
    for step in trace["completed"]:
        lines.append(f"  ✓ {step['step']}: {step['command']} → {step['participant']} at {step['at']}")
    failed = trace["failed"]
    if failed is not None:
        lines.append(f"  ✗ {failed['step']}: {failed['command']} → {failed['participant']}"
                     + (f" at {failed['at']}" if failed["at"] else "") + f" FAILED: {failed['reason'] or 'no reason recorded'}"
                     + (" (from the state; its failure event is missing)" if failed.get("from_state_only") else ""))
    for c in trace["compensations"]:
        lines.append(f"  ↶ {c['compensation']} (undoes {c['of_step']}) → {c['participant']} at {c['at']}"
                     + ("" if c["ok"] else " FAILED"))
    if trace["missing_compensations"]:
        lines.append(f"  compensations that should have run and did not: {', '.join(trace['missing_compensations'])}")
    if trace["out_of_order"]:
        lines.append("  the compensations ran out of order (expected the reverse of the steps)")
    lines.append("data sent:")
    for sent in trace["data_sent"]:
        lines.append(f"  {sent['step']} → {sent['to']}{' (third party)' if sent['third_party'] else ''}: "
                     f"{', '.join(sent['data']) or 'nothing declared'}" + (" (attempted)" if sent.get("attempted") else ""))
    for held in trace["data_still_held"]:
        lines.append(f"  still held by {held['participant']} after {held['compensation']}: deleted by "
                     f"{held['deletion'] or 'NOTHING DECLARED'}")
    events = trace["events"]
    lines.append(f"events: {events['of_this_saga']} of this saga ({events['read']} read"
                 + (f"; {events['corrupted']} corrupted line(s) skipped" if events["corrupted"] else "")
                 + (f"; {events['unknown_steps']} naming no declared step" if events["unknown_steps"] else "") + ")")
    if trace.get("ledgered"):
        lines.append("this trace read PHI or card data flows: ledgered (saga.traced)")
    return "\n".join(lines)


def tenant_trace(trace: dict) -> str:
    """Did tenant B receive tenant A's data: what was read, the paths the declarations leave, what was not seen."""
    lines = [f"did tenant {trace['to']} receive tenant {trace['from']}'s data? {trace['answer'].upper()}"]
    for place in trace["stored"]:
        held = place.get("records", place.get("rows", 0))
        lines.append(f"  {'✗' if held else '✓'} {place['asset']} ({place['place']}): {held} of {trace['from']}'s "
                     f"{'records' if 'records' in place else 'rows'}"
                     + (f"; {place['unreadable']} unreadable line(s)" if place.get("unreadable") else ""))
    if trace["paths"]:
        lines.append("paths the declarations leave for one tenant's data to reach another:")
        lines += [f"  {p['asset']} [{p['rule']}]: {p['how']}" for p in trace["paths"]]
    lines.append("not seen:")
    lines += [f"  {u['asset'] + ': ' if u['asset'] else ''}{u['why']}" for u in trace["not_seen"]]
    return "\n".join(lines)
