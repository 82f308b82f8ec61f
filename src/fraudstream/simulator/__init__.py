"""Bank simulators: a consistent card population, fraud scenarios, producers.

Python API for tests, benchmarks and notebooks::

    from fraudstream.simulator import deliver, generate

    items = list(generate(seed=7, count=5000, fraud_rate=0.01, clock_rate=5.0))
    # items: [(Transaction, Label | None), ...] in event-time order; a Label
    # names scenario, scenario_id, step, is_trigger, bank_id and, in
    # ``transaction_ids``, every transaction of its scenario in order.
    counts = deliver(settings, items, topic=tx_topic, labels_topic=labels_topic)
    assert counts.failed == 0  # every record acknowledged (acks=all)

``generate`` takes ``count`` or ``duration`` (simulated seconds), ``banks``
(ids or ``Bank`` objects; default the bundled banks.yaml), ``start`` (default:
the stream ends before now), ``clock_rate`` (total transactions per simulated
second; lower it to fit minute-long scenarios such as impossible travel into
a few thousand records) and ``scenario_names``. Scenarios that would not
finish within the stream are not started, so labels are always complete.

Modules: ``population`` (users and cards), ``banks`` (YAML config),
``scenarios`` (the fraud catalogue), ``generator`` (event-time merge),
``producer`` (Kafka/JSONL sinks, pacing loop, ``deliver``), ``replay``
(JSONL into Kafka with validation), ``cli`` (``fraudstream produce`` and
``fraudstream replay``). docs/SIMULATOR.md describes all of it.
"""

from __future__ import annotations

from fraudstream.simulator.generator import generate
from fraudstream.simulator.producer import Counts, deliver
from fraudstream.simulator.rows import Label

__all__ = ["Counts", "Label", "deliver", "generate"]
