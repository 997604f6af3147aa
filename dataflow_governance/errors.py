"""Every error the project raises on purpose, in one hierarchy under `DfgError`, as sqlglot's
`errors.py` holds its own.

Each is a user-facing failure whose message names what is wrong and never a personal value; the
CLI catches `DfgError` (exit 2) without importing the modules that raise them. Each error is still
importable from the module that raises it.
"""


class DfgError(Exception):
    """A failure the project expects and explains: bad input, an unreachable service, damage."""


# --- the model: what a project declares -------------------------------------------------------

class ManifestError(DfgError, ValueError):
    """The manifest cannot be loaded; the message names the file and the field."""


class GovernanceError(DfgError, ValueError):
    """A governance declaration that cannot be accepted; the message says where and why."""


class ConditionError(DfgError, ValueError):
    """A configured condition that cannot be used; the message says what is wrong, not the data."""


class SubjectIdError(DfgError, ValueError):
    """A subject id that cannot identify anyone (empty, too long, control characters)."""


# --- lineage and the catalog ------------------------------------------------------------------

class LineageError(DfgError, ValueError):
    """The SQL cannot be analysed; the message names the line/column or the unknown table/column."""


class CatalogError(DfgError, RuntimeError):
    """The catalog file cannot be read or written; the message says which and what to do."""


class UnauthenticCatalog(CatalogError):
    """The catalog's MAC is missing or wrong: edited by hand, or written without the project's key."""


# --- storage ----------------------------------------------------------------------------------

class WarehouseError(DfgError, RuntimeError):
    """A warehouse operation failed; the message names the table or connection."""


class UnknownEngineError(DfgError, ValueError):
    """`warehouse.kind` names no registered engine."""


class ObjectStoreError(DfgError, RuntimeError):
    """An S3 call failed; the message names the bucket/key and the endpoint, `code` S3's error code."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class DeltaError(DfgError, RuntimeError):
    """A Delta table cannot be read or changed as asked; the message names the table."""


class FileProblem(DfgError, ValueError):
    """An input that cannot be read, or an output that cannot be written, safely; nothing was done."""


class LocalS3Error(DfgError, RuntimeError):
    pass


class LocalSparkError(DfgError, RuntimeError):
    pass


# --- keys and the ledger ----------------------------------------------------------------------

class KeyringError(DfgError, RuntimeError):
    """A key is missing, damaged or not the one recorded; nothing was done with it."""


class KeyStoreError(DfgError, RuntimeError):
    """A key cannot be made, unwrapped or used; nothing was written with it."""


class FieldCryptoError(DfgError, ValueError):
    """A token that is not one of ours, or that was altered or moved to another column."""


class SigningError(DfgError, ValueError):
    """A key that cannot be read or used for approvals; the message says which and why."""


class LedgerError(DfgError, RuntimeError):
    """The ledger could not be written or read; the message says why."""


class AnchorError(DfgError, RuntimeError):
    """An anchor could not be written or read where it is configured to go."""


# --- what the project does with data ----------------------------------------------------------

class ScanError(DfgError, RuntimeError):
    """The target could not be scanned; the message names it (never a value from it)."""


class IncidentError(DfgError, ValueError):
    """The incident cannot be traced as given (unknown category, unknown place)."""


class ErasureError(DfgError, RuntimeError):
    """The erasure cannot proceed; nothing was changed by the step that raised it."""


class RequestError(DfgError, LookupError):
    """An unknown or malformed request id."""


class IsolationError(DfgError, RuntimeError):
    """Tenant isolation cannot be applied or verified here; the message says why."""


class DatasetError(DfgError, RuntimeError):
    """The dataset cannot be materialized or read as recorded; the message says why."""


class ProvenanceError(DfgError, RuntimeError):
    """MLflow could not be reached, or a model, version or record is unknown; the message says which."""


class OpenLineageError(DfgError, RuntimeError):
    """OpenLineage is misconfigured or its transport failed; the message says which."""


# --- the adapters -----------------------------------------------------------------------------

class CliError(DfgError, RuntimeError):
    """A user-facing failure: printed as one line, exit 2."""


class DbtProjectError(DfgError, RuntimeError):
    """The dbt project cannot be compiled or its governance read; the message says where."""
