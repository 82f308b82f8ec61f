"""``fraudstream stack`` (up, down, status), ``fraudstream jvm fetch`` and ``fraudstream run``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fraudstream.config import load_settings
from fraudstream.platform import jvm
from fraudstream.platform.stack import Stack


def register(sub: Any) -> None:
    stack = sub.add_parser("stack", help="start, stop and inspect the local stack")
    stack_sub = stack.add_subparsers(dest="stack_command", metavar="ACTION")
    stack_sub.required = True

    up = stack_sub.add_parser(
        "up", help="start Kafka (KRaft), Flink and PostgreSQL as local processes and wait"
    )
    up.set_defaults(func=cmd_up)

    down = stack_sub.add_parser("down", help="stop every process the stack started, by pid")
    down.add_argument("--purge", action="store_true", help="also delete data, logs and config")
    down.set_defaults(func=cmd_down)

    status = stack_sub.add_parser("status", help="each component, its address and health")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--show-secrets", action="store_true", help="include the PostgreSQL password in the DSN"
    )
    status.set_defaults(func=cmd_status)

    jvm_parser = sub.add_parser("jvm", help="the JVM parts (Kafka broker, Flink connectors)")
    jvm_sub = jvm_parser.add_subparsers(dest="jvm_command", metavar="ACTION")
    jvm_sub.required = True
    fetch = jvm_sub.add_parser("fetch", help="fetch the jars declared in jvm/pom.xml")
    fetch.add_argument("--force", action="store_true", help="fetch even if already present")
    fetch.set_defaults(func=cmd_jvm_fetch)

    run = sub.add_parser(
        "run",
        help="the whole system in the foreground: stack, job, banks, dashboard; Ctrl-C stops it",
    )
    run.add_argument("--no-job", action="store_true", help="do not submit the detection job")
    run.add_argument("--no-banks", action="store_true", help="do not start the bank simulators")
    run.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    run.add_argument("--keep", action="store_true", help="leave the stack running after Ctrl-C")
    run.set_defaults(func=cmd_run)


def cmd_up(args: argparse.Namespace) -> int:
    from fraudstream.cli import check_card_token_key

    settings = load_settings()
    check_card_token_key(settings)
    stack = Stack(settings)
    stack.up()
    _print_status(stack)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    Stack(load_settings()).down(purge=args.purge)
    print("stack stopped" + (" and data removed" if args.purge else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    stack = Stack(load_settings())
    if args.json:
        print(json.dumps(stack.status_dict(show_secrets=args.show_secrets), indent=2))
        return 0
    return 0 if _print_status(stack) else 1


def _print_status(stack: Stack) -> bool:
    components = stack.status()
    width = max(len(c.name) for c in components)
    for c in components:
        state = "healthy" if c.healthy else ("running" if c.running else "stopped")
        pid = f"pid {c.pid}" if c.pid else ""
        detail = f"  {c.detail}" if c.detail else ""
        if c.restarts or c.last_exit:
            detail += f"  restarts {c.restarts}"
            if c.last_exit:
                detail += f", last exit: {c.last_exit}"
        print(f"{c.name:<{width}}  {state:<8} {c.address:<28} {pid:<10}{detail}")
    endpoints = stack.endpoints()
    print(f"\nbootstrap servers: {endpoints['bootstrap_servers']}")
    print(f"Flink web UI:      {endpoints['flink_rest_url']}")
    print(f"PostgreSQL:        {endpoints['postgres_dsn']}")
    sys.stdout.flush()
    return all(c.healthy for c in components)


def cmd_jvm_fetch(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = jvm.fetch(settings.jvm_home, force=args.force)
    print(f"jars in {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from fraudstream.cli import check_card_token_key
    from fraudstream.platform.run import run_foreground

    settings = load_settings()
    check_card_token_key(settings)
    return run_foreground(
        settings,
        job=not args.no_job,
        banks=not args.no_banks,
        dashboard=not args.no_dashboard,
        keep=args.keep,
    )
