"""What an erasure does at each kind of place, one handler per storage system, registered the way
warehouse engines are: `handler_for(target)` gives the handler of the target's system.

Each handler is one module implementing `base.Handler` — confirm the place is there, count what
the subject (or tenant) has there, carry out the target, verify it, and read the subject's records
for an access export. A new storage kind means one module here and one `register` call.
"""

from __future__ import annotations

import importlib

from dataflow_governance.subjects.handlers.base import Handler
from dataflow_governance.subjects.targets import Action, System, Target

_REGISTRY: dict[str, str] = {
    System.WAREHOUSE: "dataflow_governance.subjects.handlers.warehouse:WarehouseRows",
    System.S3: "dataflow_governance.subjects.handlers.objects:Objects",
    System.DELTA: "dataflow_governance.subjects.handlers.delta:DeltaRows",
    System.KEYS: "dataflow_governance.subjects.handlers.keys:DataKeys",
    System.MODEL: "dataflow_governance.subjects.handlers.model:Models",
    System.PROCESSOR: "dataflow_governance.subjects.handlers.steps:OperatorSteps",
    System.OPERATOR: "dataflow_governance.subjects.handlers.steps:OperatorSteps",
}
# Immutable data sealed with the subject's key, wherever it is stored: never rewritten, the key is shredded.
_SEALED = "dataflow_governance.subjects.handlers.sealed:Sealed"
# The subject named in other rows' free text: redacted in place.
_TEXT = "dataflow_governance.subjects.handlers.text:TextMentions"
_LOADED: dict[str, Handler] = {}


def register(system: str, target: str | type[Handler]) -> None:
    """Make targets of `system` use a handler class (or its "module:Class" path)."""
    _REGISTRY[system] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
    _LOADED.pop(system, None)


def handler_for(target: Target) -> Handler:
    """The handler of a target: its system's, or the sealed-data handler for crypto-shredded data."""
    path = {Action.SHREDDED: _SEALED, Action.REDACT: _TEXT}.get(target.action) or _REGISTRY.get(target.system)
    if path is None:
        raise KeyError(f"no erasure handler for storage system {target.system!r}")
    if path not in _LOADED:
        module_name, _, attribute = path.partition(":")
        _LOADED[path] = getattr(importlib.import_module(module_name), attribute)()
    return _LOADED[path]


__all__ = ["Handler", "handler_for", "register"]
