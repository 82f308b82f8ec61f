"""Sub-commands of the simulator area."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this area's sub-commands to the `fraudstream` parser."""
    del sub
