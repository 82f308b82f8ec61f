from __future__ import annotations

import argparse

import pytest

from fraudstream.bench.cli import _rates
from fraudstream.cli import build_parser


def test_rates_are_parsed_and_sorted() -> None:
    assert _rates("5000, 1000,2000") == (1000, 2000, 5000)
    with pytest.raises(argparse.ArgumentTypeError):
        _rates("fast")
    with pytest.raises(argparse.ArgumentTypeError):
        _rates("0")


def test_bench_commands_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["bench", "latency", "--rate", "300", "--duration", "5", "--short"])
    assert args.rate == 300 and args.duration == 5 and args.short
    args = parser.parse_args(["bench", "throughput", "--rates", "100,200", "--step-seconds", "3"])
    assert args.rates == (100, 200)
    args = parser.parse_args(["bench", "quality", "--seed", "7", "--no-baseline"])
    assert args.seed == 7 and args.no_baseline
