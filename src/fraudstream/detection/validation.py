"""The transaction contract as Flink SQL: parsing, validation and the DLQ reason.

Mirrors ``fraudstream.records.parse_transaction`` so the job and the Python
side agree on what is valid and on the reason code of the first failure. Every
expression is plain SQL (no Python UDF), so validation runs in the JVM.

The input is a view with ``payload`` (the Kafka value as text),
``kafka_partition``, ``kafka_offset`` and ``kafka_ts`` (the record timestamp).

Differences from the Python validator, by necessity of SQL:

* ``oversized`` counts characters, not bytes (the same for ASCII JSON);
* a day that does not exist in its month (``2025-02-30``) is rolled back to the
  last valid day instead of being rejected;
* ``future_timestamp`` compares with the Kafka record timestamp rather than
  the wall clock, so a replay classifies a record the same way as the first run;
* ``merchant`` blank check trims spaces only;
* an amount that rounds to 0.00 is rejected (the archive keeps cents).
"""

from __future__ import annotations

from typing import Final

from fraudstream.records import MAX_AMOUNT, MAX_FUTURE, MAX_RECORD_BYTES, PAYMENT_SYSTEMS

# Reason codes, as in fraudstream.records.
REASONS: Final = (
    "oversized",
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "bad_transaction_id",
    "bad_bank_id",
    "unknown_payment_system",
    "bad_card_number",
    "bad_user_id",
    "bad_amount",
    "bad_currency",
    "bad_merchant",
    "bad_country",
    "bad_timestamp",
    "future_timestamp",
)

STRING_FIELDS: Final = (
    "transaction_id",
    "bank_id",
    "payment_system",
    "card_number",
    "currency",
    "merchant",
    "country",
    "timestamp",
)
OPTIONAL_STRING_FIELDS: Final = ("merchant_category", "channel")

# ISO-8601 with an explicit offset: date, time (optional fraction), offset.
TIMESTAMP_RE: Final = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?)"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
)
_UUID_RE: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_BANK_RE: Final = r"^[A-Za-z0-9_\-]{1,64}$"
_INT_RE: Final = r"^\[-?[0-9]+\]$"
_NUMBER_RE: Final = r"^\[-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\]$"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def wrapped(field: str, payload: str = "payload") -> str:
    """The field's JSON text in a one-element array (``[42]``, ``["x"]``); NULL if absent/null."""
    return f"JSON_QUERY({payload}, '$.{field}' WITH ARRAY WRAPPER)"


def timestamp_expr(text: str) -> str:
    """TIMESTAMP_LTZ(3) parsed from ISO-8601 text with an offset; NULL when unparseable."""
    pattern = quote(TIMESTAMP_RE)
    date = f"REGEXP_EXTRACT({text}, {pattern}, 1)"
    clock = f"REGEXP_EXTRACT({text}, {pattern}, 2)"
    offset = f"REPLACE(REGEXP_EXTRACT({text}, {pattern}, 4), ':', '')"
    local = f"TRY_CAST(CONCAT({date}, ' ', {clock}) AS TIMESTAMP(3))"
    offset_seconds = (
        f"(CASE WHEN {offset} = 'Z' THEN 0 "
        f"ELSE (CASE WHEN SUBSTR({offset}, 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(CAST(SUBSTR({offset}, 2, 2) AS INT) * 3600 + CAST(SUBSTR({offset}, 4, 2) AS INT) * 60)"
        " END)"
    )
    return f"TIMESTAMPADD(SECOND, -{offset_seconds}, CAST({local} AS TIMESTAMP_LTZ(3)))"


def max_future_seconds() -> int:
    return int(MAX_FUTURE.total_seconds())


def rowtime_expr(payload: str = "payload", kafka_ts: str = "kafka_ts") -> str:
    """Event time for the watermark: the parsed ``timestamp``, else the Kafka timestamp.

    Never NULL, and never far in the future (a bogus future stamp would drag
    the watermark ahead and make every later record late).
    """
    parsed = timestamp_expr(f"JSON_VALUE({payload}, '$.timestamp')")
    limit = f"TIMESTAMPADD(SECOND, {max_future_seconds()}, {kafka_ts})"
    return f"COALESCE(CASE WHEN {parsed} <= {limit} THEN {parsed} END, {kafka_ts})"


def luhn_expr(card: str, length: int) -> str:
    """Luhn checksum of a ``length``-digit string is valid (doubled digits via a lookup)."""
    terms = []
    for position in range(1, length + 1):
        digit = f"CAST(SUBSTR({card}, {position}, 1) AS INT)"
        if (length - position) % 2 == 1:
            terms.append(f"CAST(SUBSTR('0246813579', {digit} + 1, 1) AS INT)")
        else:
            terms.append(digit)
    return f"MOD({' + '.join(terms)}, 10) = 0"


def card_valid_expr(card: str, system: str) -> str:
    """Digits of the right length and prefix for ``system``, with a valid Luhn checksum."""
    prefix2 = f"CAST(SUBSTR({card}, 1, 2) AS INT)"
    prefix4 = f"CAST(SUBSTR({card}, 1, 4) AS INT)"
    visa = f"(CHAR_LENGTH({card}) = 16 AND SUBSTR({card}, 1, 1) = '4')"
    mastercard = (
        f"(CHAR_LENGTH({card}) = 16 AND SUBSTR({card}, 1, 1) <> '4' AND "
        f"({prefix2} BETWEEN 51 AND 55 OR {prefix4} BETWEEN 2221 AND 2720))"
    )
    amex = f"(CHAR_LENGTH({card}) = 15 AND SUBSTR({card}, 1, 2) IN ('34', '37'))"
    network = (
        f"(CASE WHEN {visa} THEN 'VISA' WHEN {mastercard} THEN 'MASTERCARD' "
        f"WHEN {amex} THEN 'AMEX' END)"
    )
    luhn = (
        f"(CASE WHEN CHAR_LENGTH({card}) = 16 THEN {luhn_expr(card, 16)} "
        f"ELSE {luhn_expr(card, 15)} END)"
    )
    return f"(REGEXP({card}, '^[0-9]{{12,19}}$') AND {network} = {system} AND {luhn})"


def mask_expr(card: str) -> str:
    """First six digits, ``*`` for the middle, last four (as ``records.mask_card``)."""
    return (
        f"CONCAT(SUBSTR({card}, 1, 6), REPEAT('*', CHAR_LENGTH({card}) - 10), "
        f"SUBSTR({card}, CHAR_LENGTH({card}) - 3, 4))"
    )


def token_expr(card: str, key: str) -> str:
    """Keyed hash of the card number (as ``records.card_token``)."""
    return f"SHA2(CONCAT({quote(key)}, ':', {card}), 256)"


def redact_payload_expr(payload: str = "payload") -> str:
    """The raw payload with the middle digits of card-like digit runs masked.

    A digit with at least six digits before it and four after is replaced, so
    a 16-digit number keeps its first six and last four (as ``mask_card``);
    raw card numbers never leave the transactions topic.
    """
    return f"REGEXP_REPLACE({payload}, '[0-9](?<=[0-9]{{7}})(?=[0-9]{{4}})', '*')"


def fields_sql(raw_view: str) -> str:
    """Each field extracted once per record: wrapped JSON text, string value, numbers.

    The job shares this view between the valid and the rejected branch, which
    makes it a block of its own in the plan: the checks below then work on
    columns instead of re-extracting fields from the payload in every check.
    """
    columns = [
        "payload",
        "kafka_partition",
        "kafka_offset",
        "kafka_ts",
        "event_time",
        "proc_time",
    ]
    names = (*STRING_FIELDS, "user_id", "amount", *OPTIONAL_STRING_FIELDS)
    columns += [f"{wrapped(name)} AS w_{name}" for name in names]
    columns += [
        f"JSON_VALUE({wrapped(name)}, '$[0]') AS s_{name}"
        for name in (*STRING_FIELDS, *OPTIONAL_STRING_FIELDS)
    ]
    for name, kind in (("user_id", "BIGINT"), ("amount", "DOUBLE")):
        w = wrapped(name)
        columns.append(f"TRY_CAST(SUBSTR({w}, 2, CHAR_LENGTH({w}) - 2) AS {kind}) AS n_{name}")
    stamp = "JSON_VALUE(payload, '$.timestamp')"
    columns.append(f"{timestamp_expr(stamp)} AS ts_parsed")
    return f"SELECT {', '.join(columns)} FROM {raw_view}"


def _string(field: str) -> str:
    return f"s_{field}"


def verdict_expr() -> str:
    """``reason|detail`` of the first failed check, NULL for a valid record.

    A NULL condition (a field absent for an earlier reason) does not fire.

    Ordered as ``records.validate_transaction`` checks, so the first failure
    gives the same reason code.
    """
    checks: list[tuple[str, str]] = [
        (f"CHAR_LENGTH(payload) > {MAX_RECORD_BYTES}", f"oversized|more than {MAX_RECORD_BYTES}"),
        ("payload IS NULL OR NOT (payload IS JSON)", "not_json|not valid JSON"),
        ("NOT (payload IS JSON OBJECT)", "not_object|expected a JSON object"),
    ]

    def presence(field: str, type_check: str, expected: str) -> None:
        checks.append((f"w_{field} IS NULL", f"missing_field|{field} is missing"))
        checks.append((f"NOT ({type_check})", f"wrong_type|{field} must be {expected}"))

    def string(field: str) -> None:
        presence(field, f"w_{field} LIKE '[\"%'", "str")

    string("transaction_id")
    checks.append(
        (
            f"NOT REGEXP({_string('transaction_id')}, {quote(_UUID_RE)})",
            "bad_transaction_id|not a UUID",
        )
    )
    string("bank_id")
    checks.append(
        (f"NOT REGEXP({_string('bank_id')}, {quote(_BANK_RE)})", "bad_bank_id|bad bank_id")
    )
    string("payment_system")
    systems = ", ".join(quote(s) for s in PAYMENT_SYSTEMS)
    checks.append(
        (
            f"{_string('payment_system')} NOT IN ({systems})",
            f"unknown_payment_system|not one of {'/'.join(PAYMENT_SYSTEMS)}",
        )
    )
    string("card_number")
    checks.append(
        (
            f"NOT {card_valid_expr(_string('card_number'), _string('payment_system'))}",
            "bad_card_number|not a valid number of its payment system",
        )
    )
    presence("user_id", f"REGEXP(w_user_id, {quote(_INT_RE)})", "int")
    user_id = "n_user_id"
    checks.append((f"COALESCE({user_id} <= 0, TRUE)", "bad_user_id|user_id must be positive"))
    presence("amount", f"REGEXP(w_amount, {quote(_NUMBER_RE)})", "int/float")
    amount = "n_amount"
    checks.append((f"COALESCE({amount} <= 0, TRUE)", "bad_amount|amount must be positive"))
    checks.append((f"{amount} > {MAX_AMOUNT}", f"bad_amount|amount above {MAX_AMOUNT}"))
    # The archive keeps cents (NUMERIC(14, 2) CHECK amount > 0): a positive
    # amount that rounds to 0.00 would fail the sink and restart the job.
    checks.append((f"ROUND({amount}, 2) <= 0", "bad_amount|amount rounds to 0.00"))
    string("currency")
    checks.append(
        (f"NOT REGEXP({_string('currency')}, '^[A-Z]{{3}}$')", "bad_currency|not an ISO 4217 code")
    )
    string("merchant")
    merchant = _string("merchant")
    checks.append(
        (
            f"CHAR_LENGTH(TRIM({merchant})) = 0 OR CHAR_LENGTH({merchant}) > 200",
            "bad_merchant|merchant must be 1-200 characters",
        )
    )
    string("country")
    checks.append(
        (
            f"NOT REGEXP({_string('country')}, '^[A-Z]{{2}}$')",
            "bad_country|not an ISO 3166 alpha-2 code",
        )
    )
    string("timestamp")
    parsed = "ts_parsed"
    checks.append((f"{parsed} IS NULL", "bad_timestamp|not ISO-8601 with a UTC offset"))
    checks.append(
        (
            f"{parsed} > TIMESTAMPADD(SECOND, {max_future_seconds()}, kafka_ts)",
            "future_timestamp|more than 5 minutes after the record was written",
        )
    )
    for name in OPTIONAL_STRING_FIELDS:
        checks.append(
            (
                f"w_{name} IS NOT NULL AND NOT (w_{name} LIKE '[\"%')",
                f"wrong_type|{name} must be str",
            )
        )
    # Independent IFs joined in order, first one wins: the same result as a
    # CASE, but the planner simplifies small expressions instead of one huge
    # CASE whose every branch assumes all earlier conditions false.
    flags = ", ".join(
        f"IF({cond}, {quote(result)}, CAST(NULL AS STRING))" for cond, result in checks
    )
    return f"SPLIT_INDEX(NULLIF(CONCAT_WS(';', {flags}), ''), ';', 0)"


def checked_sql(fields_view: str) -> str:
    """Every record with its verdict (NULL when valid)."""
    return f"SELECT *, {verdict_expr()} AS verdict FROM {fields_view}"


def valid_sql(fields_view: str, token_key: str) -> str:
    """Valid transactions in the shape of the rules contract (no card number)."""
    card = _string("card_number")
    return f"""
    SELECT s_transaction_id AS transaction_id,
           s_bank_id AS bank_id,
           s_payment_system AS payment_system,
           {mask_expr(card)} AS card_masked,
           {token_expr(card, token_key)} AS card_token,
           n_user_id AS user_id,
           n_amount AS amount,
           s_currency AS currency,
           s_merchant AS merchant,
           s_country AS country,
           event_time,
           s_merchant_category AS merchant_category,
           s_channel AS channel,
           proc_time,
           kafka_ts
    FROM {fields_view}
    WHERE ({verdict_expr()}) IS NULL
    """


def rejected_sql(fields_view: str) -> str:
    """Invalid records: reason, detail, redacted payload and source position."""
    return f"""
    SELECT SPLIT_INDEX(verdict, '|', 0) AS reason,
           SUBSTR(verdict, POSITION('|' IN verdict) + 1) AS detail,
           {redact_payload_expr()} AS raw_payload,
           kafka_partition AS source_partition,
           kafka_offset AS source_offset,
           kafka_ts
    FROM ({checked_sql(fields_view)})
    WHERE verdict IS NOT NULL
    """
