"""Loading and validating the rule catalogue (YAML).

A catalogue is a list of rule instances. Each names a rule type from
``fraudstream.detection.rules.types`` and gives that type's parameters, which
are checked against the type's model when the catalogue is loaded, so a typo
fails at load time with the rule's id in the message, not inside Flink.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fraudstream.detection.rules.types import REGISTRY

Severity = Literal["low", "medium", "high", "critical"]
DEFAULT_PACK = "default"


class CatalogueError(ValueError):
    """The catalogue cannot be read or is invalid; the message says where."""


class RuleInstance(BaseModel):
    """One configured rule: an id, a rule type and that type's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    type: str
    severity: Severity = "medium"
    enabled: bool = True
    description: str = ""
    pack: str = Field(default=DEFAULT_PACK, pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    params: dict[str, Any] = Field(default_factory=dict)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    """Seconds without a hit that end an episode (default: the rule type's)."""
    defer: bool = False
    """A card rule that defers opens no alert of its own while another rule's
    alert is open on the card: its finding joins that alert as a hit (the
    transaction its latest, the reason appended). Its own open episode
    still continues."""

    @model_validator(mode="after")
    def _params_fit_type(self) -> Self:
        rule_type = REGISTRY.get(self.type)
        if rule_type is None:
            known = ", ".join(sorted(REGISTRY))
            raise ValueError(f"rule {self.id!r}: unknown type {self.type!r} (known: {known})")
        try:
            rule_type.parse(self.params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(
                f"rule {self.id!r} ({self.type}): invalid params: {problems}"
            ) from None
        if self.defer and rule_type.scope != "card":
            raise ValueError(
                f"rule {self.id!r} ({self.type}): defer applies to card rules only "
                f"(this type reads the {rule_type.scope} scope)"
            )
        return self

    def typed_params(self) -> Any:
        """The params parsed by the rule type's model (defaults filled in)."""
        return REGISTRY[self.type].parse(self.params)


class CaseSettings(BaseModel):
    """How alerts group into cases (one card, user or merchant at a time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cooldown_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    """An alert joins the open case of its card (user, merchant) when the case's
    latest alert is at most this much earlier (event time); else it opens one."""


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[RuleInstance, ...]
    cases: CaseSettings = CaseSettings()

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids: {', '.join(duplicates)}")
        return self

    def enabled(self) -> tuple[RuleInstance, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def packs(self) -> tuple[str, ...]:
        return tuple(sorted({rule.pack for rule in self.rules}))


def with_packs(catalogue: Catalogue, packs: Iterable[str]) -> Catalogue:
    """The catalogue with every rule of the named packs switched on.

    Rules of other packs keep their own ``enabled`` flag, so naming
    ``seed-baseline`` runs the legacy rules next to the default ones.
    """
    wanted = set(packs)
    unknown = wanted - set(catalogue.packs())
    if unknown:
        raise CatalogueError(
            f"unknown rule pack(s) {', '.join(sorted(unknown))}; "
            f"the catalogue has {', '.join(catalogue.packs())}"
        )
    rules = tuple(
        rule.model_copy(update={"enabled": True}) if rule.pack in wanted else rule
        for rule in catalogue.rules
    )
    return Catalogue(rules=rules, cases=catalogue.cases)


def default_path() -> Path:
    return Path(str(resources.files("fraudstream.detection") / "rules.yaml"))


def parse_catalogue(data: Any, source: str = "<catalogue>") -> Catalogue:
    """A catalogue from already-parsed YAML/JSON data."""
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = _location(data, err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {where}: {message}" if where else f"  {message}")
        raise CatalogueError(f"invalid rule catalogue {source}:\n" + "\n".join(lines)) from None


def load_catalogue(path: Path | None = None, packs: Iterable[str] = ()) -> Catalogue:
    """Read and validate a catalogue (default: the bundled rules.yaml), then
    switch on the rules of ``packs`` (see ``with_packs``)."""
    source = path or default_path()
    try:
        data = yaml.safe_load(source.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read rule catalogue {source}: {exc}") from exc
    catalogue = parse_catalogue(data, str(source))
    packs = tuple(packs)
    return with_packs(catalogue, packs) if packs else catalogue


def _location(data: Any, loc: tuple[int | str, ...]) -> str:
    """'rules[3] (id velocity-fast).params' style location of a pydantic error."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            try:
                node = node[key]
                if isinstance(node, dict) and "id" in node:
                    label += f" (id {node['id']})"
            except (IndexError, KeyError, TypeError):
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + key)
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)
