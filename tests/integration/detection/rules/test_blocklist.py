"""The blocklist rule against the stack's PostgreSQL: the engine reads a
snapshot of the table, refreshed every ``cache_seconds``, so an entry inserted
while the job runs takes effect without a restart, and the last snapshot
keeps serving while the database is away."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from fraudstream.config import Settings
from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.lookups import BlocklistCache
from fraudstream.detection.engine.profile import CardProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules import parse_catalogue
from fraudstream.platform import ports


def tx(
    tid: str, *, merchant: str = "Corner Shop", country: str = "US", token: str = "tok-ok"
) -> Tx:
    return Tx(
        transaction_id=tid,
        bank_id="BANK_IT",
        payment_system="VISA",
        card_masked="411111******1111",
        card_token=token,
        user_id=42,
        amount=20.0,
        currency="USD",
        merchant=merchant,
        country=country,
        event_ms=int(time.time() * 1000),
        merchant_category=None,
        channel=None,
        ingested_ms=int(time.time() * 1000),
    )


@pytest.fixture
def entries(pg: psycopg.Connection[tuple[object, ...]]) -> Iterator[dict[str, str]]:
    """Unique block list values for this test, removed afterwards."""
    tag = uuid.uuid4().hex[:10]
    values = {
        "merchant": f"Shady Merchant {tag}",
        "late_merchant": f"Turned Bad {tag}",
        "country": f"Z{tag}",
        "card_token": f"tok-{tag}",
    }
    pg.execute(
        "INSERT INTO blocklist (kind, value, reason) VALUES "
        "('merchant', %s, 'chargebacks'), ('country', %s, 'sanctions'), "
        "('card_token', %s, '')",
        (values["merchant"], values["country"], values["card_token"]),
    )
    yield values
    pg.execute(
        "DELETE FROM blocklist WHERE value = ANY(%s)",
        (list(values.values()),),
    )


def test_blocklist_snapshot_sees_new_entries_and_outlives_an_outage(
    settings: Settings, pg: psycopg.Connection[tuple[object, ...]], entries: dict[str, str]
) -> None:
    catalogue = parse_catalogue(
        {
            "rules": [
                {
                    "id": "blocked",
                    "type": "blocklist",
                    "severity": "critical",
                    "params": {"cache_seconds": 1},
                }
            ]
        }
    )
    engine = Engine(catalogue)
    cache = BlocklistCache(settings.dsn, refresh_s=1, max_rows=100_000)

    def alerts(record: Tx) -> list[str]:
        found = engine.card(CardProfile(), record, record.event_ms, cache.entries())
        return [a.reason for a in found]

    assert alerts(tx("clean-1")) == []
    assert alerts(tx("late-1", merchant=entries["late_merchant"])) == []
    assert alerts(tx("merchant-1", merchant=entries["merchant"])) == [
        f"merchant {entries['merchant']} is on the block list (chargebacks)"
    ]
    assert alerts(tx("card-1", token=entries["card_token"])) == [
        "card 411111******1111 is on the block list (no reason given)"
    ]
    both = engine.card(
        CardProfile(),
        tx("both-1", merchant=entries["merchant"], country=entries["country"]),
        0,
        cache.entries(),
    )
    assert both[0].reason == (
        f"merchant {entries['merchant']} is on the block list (chargebacks); "
        f"country {entries['country']} is on the block list (sanctions)"
    )
    assert both[0].score == 1.0 and json.dumps(list(both[0].evidence)) == '["both-1"]'

    # Block a merchant while running: the next refresh (1 s) picks it up.
    pg.execute(
        "INSERT INTO blocklist (kind, value, reason) VALUES ('merchant', %s, 'new fraud')",
        (entries["late_merchant"],),
    )
    deadline = time.monotonic() + 30
    while not alerts(tx("late-2", merchant=entries["late_merchant"])):
        assert time.monotonic() < deadline, "the new block list entry never took effect"
        time.sleep(0.2)

    # The database goes away (an address nothing listens on): the last
    # snapshot keeps serving, so detection goes on.
    (dead,) = ports.free_ports(1)
    cache._dsn = f"postgresql://nobody:nothing@127.0.0.1:{dead}/none"
    time.sleep(1.1)
    assert alerts(tx("merchant-2", merchant=entries["merchant"]))
    assert cache._failing
