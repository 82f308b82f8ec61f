"""Rules as data: a YAML catalogue of rule instances, each an instance of a rule
type written once as a Flink SQL template evaluated per transaction.

The contract with the job (``fraudstream.detection.job``):

* the job registers a view (name passed in as ``source_view``) with columns
  transaction_id, bank_id, payment_system, card_masked, card_token,
  user_id BIGINT, amount DOUBLE, currency, merchant, country,
  event_time TIMESTAMP_LTZ(3) (rowtime attribute with a watermark),
  merchant_category, channel (nullable STRING), proc_time (PROCTIME());
* ``load_catalogue(path=None, packs=())`` reads and validates the catalogue
  (default: the bundled rules.yaml) and switches on the rules of the named
  packs (e.g. ``packs=("seed-baseline",)``; see ``with_packs``);
* ``ddl(catalogue, settings)`` returns the CREATE TEMPORARY TABLE statements
  the enabled rules need (the JDBC lookup table of the block list, built from
  ``settings.dsn``); the job runs each with ``execute_sql`` before the query;
* ``alerts_sql(catalogue, source_view, settings)`` returns one SELECT (a UNION
  ALL over the enabled rules) with the columns of ``ALERT_COLUMNS``, in order:
  rule_id, rule_type, severity STRING, score DOUBLE (0..1), reason STRING,
  transaction_id, card_masked, card_token, bank_id STRING, user_id BIGINT,
  amount DOUBLE, currency, merchant, country, payment_system STRING,
  event_time TIMESTAMP_LTZ(3), evidence STRING (JSON array of transaction
  ids). event_time is a plain timestamp, not a time attribute. The query is
  append-only. The job adds alert_id = MD5(CONCAT(rule_id, ':',
  transaction_id)) and detected_at;
* ``register_alerts_view(t_env, catalogue, source_view, settings, name)``
  does both steps and registers the query as a temporary view through the
  Table API. Use it rather than ``CREATE TEMPORARY VIEW name AS <alerts_sql>``:
  Flink 2.2.0 cannot re-parse a SQL view holding MATCH_RECOGNIZE
  (FLINK-39293), which the card_testing rule uses.
"""

from __future__ import annotations

from fraudstream.detection.rules.catalogue import (
    Catalogue,
    CatalogueError,
    RuleInstance,
    load_catalogue,
    parse_catalogue,
    with_packs,
)
from fraudstream.detection.rules.templates import (
    ALERT_COLUMNS,
    alerts_sql,
    ddl,
    register_alerts_view,
)

__all__ = [
    "ALERT_COLUMNS",
    "Catalogue",
    "CatalogueError",
    "RuleInstance",
    "alerts_sql",
    "ddl",
    "load_catalogue",
    "parse_catalogue",
    "register_alerts_view",
    "with_packs",
]
