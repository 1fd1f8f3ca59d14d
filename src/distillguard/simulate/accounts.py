"""Accounts: what the registry knows, what the account really is, how it behaves.

``Identity`` is the registry row (contract section 2), ``Truth`` the label row (section 5),
``Traffic`` the behaviour the generators follow. Only ``Identity`` and what ``Traffic``
produces ever reach the exchange log or the registry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from .harness import Harness
from .network import Endpoint, Network, place_name


@dataclass(frozen=True, slots=True)
class Identity:
    account_id: str
    org_id: str | None
    key_ids: tuple[str, ...]
    created_at: float
    country: str | None
    email_domain: str | None
    payment: str | None
    program: str | None
    verified: bool | None
    signup_ip: str | None
    trusted: bool | None
    in_registry: bool = True  # a few accounts are missing from the registry, as in real data


@dataclass(frozen=True, slots=True)
class Truth:
    population: str
    campaign_id: str = ""
    actor: str = ""

    @property
    def label(self) -> str:
        return "attack" if self.campaign_id else "benign"


@dataclass(frozen=True, slots=True)
class NetPlan:
    """Where an account's sessions come from: sticky endpoints and/or a rotating pool."""

    fixed: tuple[Endpoint, ...] = ()
    rotating: tuple[Network, ...] = ()
    p_rotate: float = 0.0  # share of sessions from the rotating pool


@dataclass(frozen=True, slots=True)
class Traffic:
    """How an account uses the API; read by the schedule and the session generators."""

    rate: float  # exchanges per active day
    mix: tuple[tuple[str, float], ...]  # session kinds and their weights
    harnesses: tuple[Harness, ...]
    net: NetPlan
    user_agent: str | None
    tls: str | None
    shape: str = "dev"  # daily profile, see timing.SHAPES
    tz: int = 0
    timing: str = "poisson"  # poisson, regular, wave
    active_p: float = 1.0  # chance the account is active on a given day
    weekend: float = 0.5
    adoption: str = "slow"  # how it moves to a new model, see models.adoption
    models: tuple[tuple[str, float], ...] = (("vela-3", 1.0),)
    end_users: int = 0  # size of the end-user pool that sends ids; 0 = none sent
    machine: bool = False  # machine-paced gaps inside sessions
    error_rate: float = 0.004
    limit_rate: float = 0.002  # 429s: busy accounts hit their rate limits
    chatter: float = 0.0  # share of sessions that are ordinary chat mixed in (evasion 3)
    lang_zh: float = 0.0  # share of asks written in Chinese
    jitter: bool = False  # parameters vary per request (evasion 3)
    wave: int = -1  # lockstep group (campaign waves), -1 = none
    cell: int = -1  # the campaign cell the account belongs to (shared artefacts)
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Account:
    index: int
    identity: Identity
    truth: Truth
    traffic: Traffic


FREE_MAIL: Final = {
    "default": ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me"),
    "JP": ("gmail.com", "yahoo.co.jp", "icloud.com"),
    "KR": ("naver.com", "gmail.com", "daum.net"),
    "RU": ("yandex.ru", "mail.ru", "gmail.com"),
    "HK": ("gmail.com", "qq.com", "163.com", "outlook.com"),
    "TW": ("gmail.com", "yahoo.com.tw"),
    "SG": ("gmail.com", "outlook.com", "qq.com"),
    "DE": ("gmail.com", "gmx.de", "web.de"),
    "FR": ("gmail.com", "orange.fr", "outlook.fr"),
}
_TLDS: Final = (
    "com",
    "com",
    "com",
    "io",
    "ai",
    "dev",
    "co",
    "net",
    "org",
    "tech",
    "app",
    "xyz",
    "de",
    "co.uk",
    "fr",
    "jp",
    "sg",
)


def free_mail(rng: random.Random, country: str | None) -> str:
    pool = FREE_MAIL.get(country or "", FREE_MAIL["default"])
    return rng.choice(pool)


def company_domain(rng: random.Random) -> str:
    """A made-up company domain; actors' own domains come from the same generator."""
    name = place_name(rng).lower()
    if rng.random() < 0.3:
        name += rng.choice(("labs", "ai", "data", "soft", "hq", "works", "tech"))
    return f"{name}.{rng.choice(_TLDS)}"


def university_domain(rng: random.Random) -> str:
    name = place_name(rng).lower()
    return rng.choice(
        (f"{name}.edu", f"st.{name}.edu", f"student.{name}.ac.uk", f"mail.{name}.edu.sg")
    )
