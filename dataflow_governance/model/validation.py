"""Validating one declared section with pydantic, the error naming the manifest key it came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from dataflow_governance.errors import GovernanceError


def validated(model: type[BaseModel], raw: dict, where: str, known: Mapping[str, str] | None = None) -> Any:
    """`model` from `raw`, or a GovernanceError naming `where` and the field (`systems.api.zone: …`);
    `known` says, for an unknown field under one of its keys, which fields there are."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            hint = next((text for key, text in (known or {}).items() if key in field), None)
            message = f"unknown field ({hint})" if hint else "unknown field"
        raise GovernanceError(f"{where}{'.' + field if field else ''}: {message}") from None
