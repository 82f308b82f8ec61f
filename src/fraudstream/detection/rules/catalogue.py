"""Loading and validating the rule catalogue (YAML)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Severity = Literal["low", "medium", "high", "critical"]


class RuleInstance(BaseModel):
    """One configured rule: an id, a rule type and that type's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    type: str
    severity: Severity = "medium"
    enabled: bool = True
    description: str = ""
    pack: str = "default"
    params: dict[str, Any] = Field(default_factory=dict)


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[RuleInstance, ...]

    def enabled(self) -> tuple[RuleInstance, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)


class CatalogueError(ValueError):
    pass


def default_path() -> Path:
    return Path(str(resources.files("fraudstream.detection") / "rules.yaml"))


def load_catalogue(path: Path | None = None) -> Catalogue:
    source = path or default_path()
    try:
        data = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read rule catalogue {source}: {exc}") from exc
    try:
        catalogue = Catalogue.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(f"invalid rule catalogue {source}:\n{exc}") from exc
    ids = [rule.id for rule in catalogue.rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogueError(f"duplicate rule ids in {source}: {duplicates}")
    return catalogue
