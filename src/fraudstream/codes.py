"""ISO code lists: currencies (ISO 4217) and countries (ISO 3166-1 alpha-2).

Both come from ``pycountry``, which follows the ISO maintenance agencies'
published lists; no list is written by hand here. The job checks each record
against them with one set lookup each (``records.quality_flags``): an unknown
code is archived with a data-quality flag, never rejected.
"""

from __future__ import annotations

from typing import Final

import pycountry

CURRENCIES: Final[frozenset[str]] = frozenset(c.alpha_3 for c in pycountry.currencies)
"""Every ISO 4217 alphabetic currency code."""
COUNTRIES: Final[frozenset[str]] = frozenset(c.alpha_2 for c in pycountry.countries)
"""Every ISO 3166-1 alpha-2 country code."""


def country_name(code: str) -> str | None:
    """The ISO short name of a country code, or None when the code is unknown."""
    found = pycountry.countries.get(alpha_2=code)
    return None if found is None else str(found.name)
