"""Rules as data: a YAML catalogue of rule instances, each an instance of a rule
type written once as a Flink SQL template evaluated per transaction.

The contract with the job (``fraudstream.detection.job``):

* the job registers a view (name passed in as ``source_view``) with columns
  transaction_id, bank_id, payment_system, card_masked, card_token,
  user_id BIGINT, amount DOUBLE, currency, merchant, country,
  event_time TIMESTAMP_LTZ(3) (rowtime attribute with a watermark),
  merchant_category, channel (nullable STRING), proc_time (PROCTIME());
* ``alerts_sql(catalogue, source_view, settings)`` returns one SELECT (a UNION
  ALL over the enabled rules) with the columns of ``ALERT_COLUMNS``; the job
  adds alert_id = MD5(CONCAT(rule_id, ':', transaction_id)) and detected_at.
"""

from __future__ import annotations

from fraudstream.detection.rules.catalogue import Catalogue, RuleInstance, load_catalogue
from fraudstream.detection.rules.templates import ALERT_COLUMNS, alerts_sql

__all__ = ["ALERT_COLUMNS", "Catalogue", "RuleInstance", "alerts_sql", "load_catalogue"]
