"""What a request searches: the governance the project declares and the column graph derived from
its SQL, with the few project-wide names a plan mentions — never the whole project."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dataflow_governance.lineage.graph import ColumnGraph
from dataflow_governance.model.spec import AssetGovernance


@dataclass(frozen=True)
class Scope:
    """The assets a plan reads.

    Args:
        governance: asset → its governance (all of the project's, or the ones a job covers).
        graph: the column graph (None where no SQL asset was traced).
        identities: `asset.column` of each subject kind's identity column (named in the plan's lineage).
        tenant_directory: the tenant entity's asset, whose own row of a tenant goes last.
        backups: the declared backups, (name, location, days they are kept), which keep a subject
            until they expire.
    """

    governance: Mapping[str, AssetGovernance]
    graph: ColumnGraph | None = None
    identities: frozenset[str] = frozenset()
    tenant_directory: str | None = None
    backups: tuple[tuple[str, str, int], ...] = ()
