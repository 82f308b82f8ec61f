"""The population as flat arrays, for drawing a chunk of purchases at once.

Users get a global index across banks; each user's favourite merchants and
cards sit in flat arrays addressed by offset and count, so a purchase is a
few vectorised index operations instead of Python attribute lookups.
"""

from __future__ import annotations

import numpy as np

from fraudstream.simulator.population import CATEGORIES, User, json_str
from fraudstream.simulator.rows import CARD_PART


class Tables:
    """The population as flat arrays, indexed by a global user index."""

    def __init__(self, users: list[User]) -> None:
        self.users = users
        obj = np.array
        self.user_id = obj([u.user_id for u in users], dtype=object)
        self.bank_id = obj([u.bank_id for u in users], dtype=object)
        self.currency = obj([u.currency for u in users], dtype=object)
        self.home = obj([u.home for u in users], dtype=object)
        self.online = np.array([u.online_share for u in users])
        self.traveller = np.array([u.traveller for u in users], dtype=bool)
        m_off: list[int] = []
        m_cnt: list[int] = []
        mcc: list[str] = []
        merchant: list[str] = []
        typical: list[float] = []
        c_off: list[int] = []
        c_cnt: list[int] = []
        number: list[str] = []
        system: list[str] = []
        for u in users:
            m_off.append(len(mcc))
            m_cnt.append(len(u.merchants))
            for code, name in u.merchants:
                mcc.append(code)
                merchant.append(json_str(name))
                typical.append(CATEGORIES[code].typical * u.typical_amount)
            c_off.append(len(number))
            c_cnt.append(len(u.cards))
            for card in u.cards:
                number.append(card.number)
                system.append(card.payment_system)
        self.m_off, self.m_cnt = np.array(m_off), np.array(m_cnt)
        self.mcc, self.merchant = obj(mcc, dtype=object), obj(merchant, dtype=object)
        self.typical = np.array(typical)
        self.c_off, self.c_cnt = np.array(c_off), np.array(c_cnt)
        self.card, self.system = obj(number, dtype=object), obj(system, dtype=object)
        owner = [u for u in users for _ in u.cards]
        self.card_part = obj(
            [
                CARD_PART % (u.bank_id, s, n, u.user_id)
                for u, s, n in zip(owner, system, number, strict=True)
            ],
            dtype=object,
        )
