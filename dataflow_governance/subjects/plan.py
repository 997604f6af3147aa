"""The erasure plan: every place the project keeps a subject, read off the governance and the graph.

Warehouse tables with a column that identifies the subject (raw, or as the project's keyed
pseudonym) — declared, or derived through SQL lineage — S3 prefixes templated with `{subject_id}`,
JSON-lines objects carrying the subject's id, dataset snapshots holding the subject (their
membership index) and the models trained on them, aggregates to recompute, processors to notify.
Legal holds turn a delete into an anonymization.
"""

from __future__ import annotations

from dataclasses import replace

from dataflow_governance.crypto.data_keys import KEYS_TABLE
from dataflow_governance.ledger.chain import Ledger
from dataflow_governance.lineage.graph import ColumnGraph
from dataflow_governance.ml.datasets import dataset_records, digests_holding
from dataflow_governance.ml.model_registry import models_trained_on
from dataflow_governance.model import taxonomy
from dataflow_governance.model.spec import AssetGovernance, table_of
from dataflow_governance.storage.warehouse import Warehouse
from dataflow_governance.subjects.scope import Scope
from dataflow_governance.subjects.targets import Action, System, Target
from dataflow_governance.tenancy.census import tenant_tables


def plan_erasure(scope: Scope, warehouse: Warehouse | None = None) -> list[Target]:
    """Every target for the project's subjects, without touching data (counts come later).

    Args:
        scope: the governance and graph to plan from.
        warehouse: with it, a table kept in a schema per tenant becomes one target per tenant's table.

    Returns:
        The targets in the order they are carried out: data first, aggregates rebuilt after
        every deletion, processors told last.
    """
    governance = scope.governance
    targets = [t for asset, gov in sorted(governance.items()) if (t := _data_target(asset, gov, scope)) is not None]
    # First: the identity row the mentions are read from goes with the data targets after them.
    targets = [*_text_targets(targets, scope), *targets]
    sealed = sorted(a for a, g in governance.items() if g.subject_encrypted)
    if sealed:
        targets.append(Target(System.KEYS, KEYS_TABLE, Action.SHRED, ", ".join(sealed), lineage=tuple(
            f"the subject's data key seals {a}.{', '.join(governance[a].subject_encrypted)}" for a in sealed)))
    if warehouse is not None:
        targets = [t for target in targets for t in _per_tenant(target, warehouse)]
    targets.sort(key=lambda t: (t.action == Action.RECOMPUTE, t.system == System.PROCESSOR))
    sent = [t for t in targets if t.action != Action.RECOMPUTE and t.system != System.KEYS]
    receivers = sorted({p for t in sent for p in governance[t.asset].processors})
    for name in receivers:
        sent_from = sorted(t.asset for t in sent if name in governance[t.asset].processors)
        targets.append(Target(System.PROCESSOR, name, Action.NOTIFY, ", ".join(sent_from),
                              lineage=tuple(f"{a} → {name}" for a in sent_from)))
    # Backups keep what they hold until they expire: listed, with when, for the operator and the certificate.
    for name, location, days in scope.backups:
        targets.append(Target(System.OPERATOR, name, Action.EXPIRE, location, expires_in_days=days,
                              lineage=(f"backups in {location} are kept {days} days",)))
    return targets


def _data_target(asset: str, gov: AssetGovernance, scope: Scope) -> Target | None:
    """The one target of an asset holding subjects' data, or None."""
    graph = scope.graph
    identity = [(name, col) for name, col in gov.columns.items() if col.identity]
    traced = graph.columns_of(asset) if graph is not None and asset in graph.lineage else {}
    if not identity and traced:
        identity = [(name, None) for name, cls in traced.items() if cls.subject_linked and not cls.anonymous]
    kind = gov.storage.kind
    if gov.immutable and identity and identity[0][0] in gov.subject_encrypted:
        # Never deleted or rewritten: the subject's fields stay as ciphertext whose key is shredded.
        where = table_of(asset, gov) if kind == "warehouse" else f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}"
        return Target(System(kind), where, Action.SHREDDED, asset, column=identity[0][0],
                      personal=gov.subject_encrypted,
                      lineage=(f"{asset}: the subject's events, sealed with the subject's key",))
    if kind == "delta" and identity:
        return Target(System.DELTA, gov.storage.path, Action.DELETE, asset, column=identity[0][0],
                      personal=gov.personal_columns,
                      lineage=(f"{asset}.{identity[0][0]} (a Delta table: rows, replaced files, log)",))
    if kind == "warehouse" and identity:
        name, col = identity[0]
        pseudonymized = bool(col.pseudonymized) if col is not None else traced[name].pseudonymized
        holds = gov.retention.legal_holds if gov.retention else ()
        hold = holds[0] if holds else None
        return Target(System.WAREHOUSE, table_of(asset, gov), Action.ANONYMIZE if hold else Action.DELETE, asset,
                      column=name, pseudonymized=pseudonymized, lineage=_lineage(scope, asset, name, graph),
                      timestamp_column=gov.retention.timestamp_column if gov.retention else None,
                      # Held rows stay (e.g. for tax) but lose their link to the person: the identity goes.
                      held=((name, "nullify"), *hold.anonymize.items()) if hold else (),
                      hold_where=hold.where if hold else None, hold_days=hold.keep_days if hold else None)
    if kind == "warehouse" and traced and any(cls.anonymous for cls in traced.values()):
        definition = graph.sql[asset]
        return Target(System.WAREHOUSE, table_of(asset, gov), Action.RECOMPUTE, asset, sql=definition.sql,
                      dialect=definition.dialect)
    if kind == "s3" and gov.subject_prefix:
        return Target(System.S3, f"s3://{gov.storage.bucket}/{gov.subject_prefix}", Action.DELETE, asset,
                      lineage=(f"{asset}: objects under {gov.subject_prefix}",))
    if kind == "s3" and identity and not gov.storage.snapshots:
        # (Snapshots are found through their membership index: see `with_provenance`.)
        return Target(System.S3, f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}", Action.REWRITE, asset,
                      column=identity[0][0], fmt=gov.storage.format,
                      lineage=(f"{asset}: records whose {identity[0][0]} is the subject",))
    return None


def _text_targets(targets: list[Target], scope: Scope) -> list[Target]:
    """Each free-text column of the warehouse assets the plan reaches: other rows may name the subject
    there (a neighbour's ticket). Their identifiers come from the identity asset of their kind."""
    from dataflow_governance.subjects.mentions import identifier_columns

    sources = []
    for ref in sorted(scope.identities):
        asset, _, column = ref.rpartition(".")
        gov = scope.governance.get(asset)
        if gov is not None and gov.storage.kind == "warehouse" and (columns := identifier_columns(gov)):
            sources.append((table_of(asset, gov), column, columns))
    if not sources:
        return []
    source = sources[0]
    whose = f"(their {', '.join(source[2])} from {source[0]})"
    out = []
    for target in targets:
        gov = scope.governance[target.asset]
        if target.system == System.WAREHOUSE and target.action in (Action.DELETE, Action.ANONYMIZE):
            out += [Target(System.WAREHOUSE, f"{target.target}.{column}", Action.REDACT, target.asset, column=column,
                           identity=source, lineage=(f"{target.asset}.{column}: free text where others may name the "
                                                     f"subject {whose}",)) for column in gov.free_text_columns]
        elif target.system == System.S3 and target.action in (Action.DELETE, Action.REWRITE) and gov.storage.bucket:
            # Objects of other people's under the asset's prefix: their free-text fields, or the whole
            # text of an asset whose objects are content (attachments) and declare no fields.
            fields = gov.free_text_columns
            whole = not gov.columns and any(taxonomy.is_within(c, "user.content") for c in gov.data_categories)
            if fields or whole:
                uri = f"s3://{gov.storage.bucket}/{gov.storage.prefix or ''}"
                out.append(Target(System.S3, f"{uri} ({', '.join(fields) or 'text'})", Action.REDACT, target.asset,
                                  personal=fields, fmt=gov.storage.format, identity=source, lineage=(
                                      f"{target.asset}: {', '.join(fields) or 'the text'} of every object, where others "
                                      f"may name the subject {whose}",)))
    return out


def _per_tenant(target: Target, warehouse: Warehouse) -> list[Target]:
    if target.system != System.WAREHOUSE or "{tenant_id}" not in target.target:
        return [target]
    template = target.table
    suffix = target.target[len(template):]  # a redaction's `.column`
    return [replace(target, target=table + suffix, lineage=(*target.lineage, f"(tenant {tenant}'s schema)"))
            for tenant, table in sorted(tenant_tables(warehouse, template).items())]


def with_provenance(targets: list[Target], warehouse: Warehouse, subject: str) -> list[Target]:
    """The plan plus the dataset snapshots holding the subject and the models trained on them,
    placed after the data targets and before aggregates are rebuilt and processors told."""
    extra = training_targets(warehouse, subject)
    split = next((i for i, t in enumerate(targets) if t.action == Action.RECOMPUTE or t.system == System.PROCESSOR),
                 len(targets))
    return [*targets[:split], *extra, *targets[split:]]


def training_targets(warehouse: Warehouse, subject: str) -> list[Target]:
    """For a subject's erasure: each live snapshot holding them (delete) and each model trained on one (flag)."""
    ledger = Ledger(warehouse)
    digests = set(digests_holding(warehouse, subject))
    if not digests:
        return []
    targets: dict[str, Target] = {}
    for record in dataset_records(ledger):
        # (A snapshot this same erasure already deleted stays in its plan, as done.)
        if record.digest in digests and (not record.deleted or record.deleted["by"] == f"subject:{subject}"):
            targets[record.snapshot_uri] = Target(
                System.S3, record.snapshot_uri, Action.DELETE, record.asset,
                lineage=(f"{record.asset}: snapshot {record.digest} holds the subject (membership index)",))
    for model in models_trained_on(ledger, digests):
        uri = f"models:/{model['model']}/{model['version']}"
        used = sorted(digests & set(model["datasets"]))
        targets[uri] = Target(System.MODEL, uri, Action.FLAG, model["model"],
                              lineage=(f"{uri} ← trained on {', '.join(used)}",))
    return list(targets.values())


def _lineage(scope: Scope, asset: str, column: str, graph: ColumnGraph | None) -> tuple[str, ...]:
    path = [f"{asset}.{column}"]
    if graph is not None:
        path += [f"← {a}.{c}" for a, c in graph.upstream(asset, column)]
    if f"{asset}.{column}" in scope.identities:
        path.append("(the subject's identity column)")
    return tuple(path)
