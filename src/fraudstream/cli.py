"""The ``fraudstream`` command.

Each area registers its own sub-commands (``platform``: stack, jvm, run;
``simulator``: produce, replay; ``detection``: job, rules; ``dashboard``;
``bench``), so this module only wires them together.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING

from fraudstream import __version__

if TYPE_CHECKING:
    from fraudstream.config import Settings

# Modules that define `register(subparsers)`; order is the order in --help.
COMMAND_MODULES = (
    "fraudstream.platform.cli",
    "fraudstream.simulator.cli",
    "fraudstream.detection.cli",
    "fraudstream.archive.cli",
    "fraudstream.detection.backtest_cli",
    "fraudstream.detection.model.cli",
    "fraudstream.dashboard.cli",
    "fraudstream.bench.cli",
)


class UserError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def check_card_token_key(settings: Settings) -> None:
    """What every command that starts the stack or the job checks first: the
    public development key of card tokens is refused outside local development
    (``SettingsError``, one line) and warned about inside it."""
    warning = settings.card_token_warning()
    if warning is not None:
        print(f"fraudstream: {warning}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraudstream",
        description="Real-time card fraud detection on Kafka, Flink and PostgreSQL.",
        epilog="Settings come from FRAUDSTREAM_* environment variables; see the README.",
    )
    parser.add_argument("--version", action="version", version=f"fraudstream {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity (default: INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # librdkafka and urllib3 are chatty at INFO.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    from fraudstream.config import SettingsError
    from fraudstream.platform.jvm import PrerequisiteError
    from fraudstream.platform.procs import ReadinessError

    try:
        result: int = args.func(args)
    except (UserError, PrerequisiteError, ReadinessError, SettingsError) as exc:
        print(f"fraudstream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
