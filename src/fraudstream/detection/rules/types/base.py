"""What a rule type is: a parameter model and a SQL template (plus, for types
that read an external table, the DDL that declares it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import RuleRef

# Finite, strictly positive numbers: an infinite or NaN threshold is a typo.
PositiveAmount = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Seconds = Annotated[int, Field(ge=1, le=7 * 24 * 3600)]


class Params(BaseModel):
    """Base of every parameter model: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class RuleType(Generic[P]):
    name: str
    params: type[P]
    sql: Callable[[RuleRef, P, str, Settings], str]
    ddl: Callable[[RuleRef, P, Settings], list[str]] | None = None
    summary: str = ""

    def parse(self, raw: dict[str, Any]) -> P:
        return self.params.model_validate(raw)
