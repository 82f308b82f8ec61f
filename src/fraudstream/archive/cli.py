"""``fraudstream archive``: the archive writer in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any


def register(sub: Any) -> None:
    """Add this area's sub-commands to the `fraudstream` parser."""
    archive = sub.add_parser(
        "archive",
        help="store the detection job's output (transactions, DLQ, alerts) in PostgreSQL",
        description="Reads the validated transactions, the dead-letter topic and the alerts "
        "with its own consumer group and upserts them into PostgreSQL; rides out a database "
        "outage and catches up afterwards. Runs until Ctrl-C (`fraudstream run` starts it).",
    )
    archive.set_defaults(func=cmd_archive)


def cmd_archive(args: argparse.Namespace) -> int:
    from fraudstream.archive import writer
    from fraudstream.config import load_settings

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    writer.run_foreground(load_settings(), stop)
    return 0
