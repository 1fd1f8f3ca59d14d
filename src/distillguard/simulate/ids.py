"""Random-looking identifiers and RFC 3339 timestamps.

Every id is drawn from the generator it is given, the same way for every account whatever
its population, so neither the format nor the order of an id can tell a label.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Final

B62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b62(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(B62, k=n))


def b58(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(B58, k=n))


def hexid(rng: random.Random, n: int) -> str:
    """``n`` lowercase hex digits."""
    return f"{rng.getrandbits(4 * n):0{n}x}"


def uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def account_id(rng: random.Random) -> str:
    return "acct_" + b62(rng, 20)


def org_id(rng: random.Random) -> str:
    return "org-" + b62(rng, 24)


def key_id(rng: random.Random) -> str:
    return "key_" + b62(rng, 16)


def payment_fingerprint(rng: random.Random) -> str:
    return "pf_" + hexid(rng, 24)


class Clock:
    """Formats epoch seconds as RFC 3339 with milliseconds and ``Z``, fast.

    The simulator writes millions of timestamps; strftime on each would cost more than
    building the rest of the record, so the date part is cached per day.
    """

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, epoch: float) -> str:
        ms = int(epoch * 1000)
        day, in_day = divmod(ms, 86_400_000)
        prefix = self._days.get(day)
        if prefix is None:
            date = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
            prefix = self._days[day] = date.strftime("%Y-%m-%dT")
        seconds, milli = divmod(in_day, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def rfc3339(epoch: float) -> str:
    """Whole-second RFC 3339, for the registry and model releases."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
