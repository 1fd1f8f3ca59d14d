"""Minting accounts: ids, organisations, API keys, cards, sign-ups, SDKs, networks.

One ``Minter`` draws every id for every population from one generator in the same way, so
ids carry no label. What differs between populations are the choices passed in (a shared
card, a burst of sign-ups from one network): the linking artefacts detection looks for.
"""

from __future__ import annotations

import random
from typing import Final

from . import ids
from .accounts import Identity, NetPlan, free_mail
from .models import DAY
from .network import (
    BY_COUNTRY,
    CUSTOMER_COUNTRIES,
    CUSTOMER_WEIGHTS,
    HOSTING,
    SDKS,
    Endpoint,
    Network,
)

MISSING_FROM_REGISTRY: Final = 0.003
PERSONAL: Final = 0.08  # accounts made before organisations were, or never given one


class Minter:
    def __init__(self, rng: random.Random, start: float, days: int) -> None:
        self.rng = rng
        self.start = start
        self.days = days

    def identity(
        self,
        *,
        created: float,
        country: str | None,
        email: str | None,
        payment: str | None,
        program: str | None,
        verified: bool | None,
        signup_ip: str | None,
        org: str | None = "",
        trusted: bool | None = False,
        keys: int = 1,
    ) -> Identity:
        """A registry row; ``org=""`` gives the account an organisation of its own."""
        rng = self.rng
        if org == "":  # a an own organisation, except older personal accounts that have none
            org = None if rng.random() < PERSONAL else ids.org_id(rng)
        return Identity(
            account_id=ids.account_id(rng),
            org_id=org,
            key_ids=tuple(ids.key_id(rng) for _ in range(keys)),
            created_at=created,
            country=country,
            email_domain=email,
            payment=payment,
            program=program,
            verified=verified,
            signup_ip=signup_ip,
            trusted=trusted,
            in_registry=rng.random() >= MISSING_FROM_REGISTRY,
        )

    def org(self) -> str:
        return ids.org_id(self.rng)

    def card(self) -> str:
        return ids.payment_fingerprint(self.rng)

    def country(self) -> str:
        return self.rng.choices(CUSTOMER_COUNTRIES, CUSTOMER_WEIGHTS)[0]

    def email(self, country: str | None, own: str | None, p_own: float) -> str:
        return own if own and self.rng.random() < p_own else free_mail(self.rng, country)

    def before(self, lo_days: float, hi_days: float) -> float:
        """A moment between ``hi_days`` and ``lo_days`` before the start."""
        return self.start - self.rng.uniform(lo_days, hi_days) * DAY

    def during(self, lo: float = 0.0, hi: float = 1.0) -> float:
        """A moment inside the simulated period, as fractions of it."""
        return self.start + self.rng.uniform(lo, hi) * self.days * DAY

    def residential(self, country: str | None) -> Network:
        pool = BY_COUNTRY.get(country or "US") or BY_COUNTRY["US"]
        return pool[self.rng.randrange(len(pool))]

    def home(self, country: str | None, n: int = 2) -> tuple[Endpoint, ...]:
        """A home line: a few addresses in one /24 (the ISP reassigns the last octet)."""
        net = self.residential(country)
        prefix = net.prefix(self.rng)
        return tuple(net.endpoint(self.rng, prefix) for _ in range(n))

    def hosted(self, n: int, countries: tuple[str, ...] = ("US",)) -> tuple[Endpoint, ...]:
        """Servers in a cloud: NAT gateways or a proxy's exit nodes, in one or two /24s."""
        rng = self.rng
        nets = [net for net in HOSTING if net.country in countries] or list(HOSTING)
        net = nets[rng.randrange(len(nets))]
        prefixes = [net.prefix(rng) for _ in range(rng.choice((1, 1, 2)))]
        return tuple(net.endpoint(rng, prefixes[i % len(prefixes)]) for i in range(n))

    def sdk(self, names: tuple[str, ...], weights: tuple[float, ...]) -> tuple[str, str, str]:
        """(sdk name, user agent, TLS fingerprint) of a client."""
        rng = self.rng
        name = rng.choices(names, weights)[0]
        sdk = SDKS[name]
        return name, sdk.user_agent(rng), rng.choice(sdk.tls)

    def net(
        self, fixed: tuple[Endpoint, ...], rotating: tuple[Network, ...] = (), p_rotate: float = 0.0
    ) -> NetPlan:
        return NetPlan(fixed, rotating, p_rotate)
