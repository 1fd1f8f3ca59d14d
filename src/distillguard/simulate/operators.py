"""How campaign operators build their accounts, and how each evasion level changes that.

At evasion 0 an operator sets accounts up in cells: a batch signed up together from one
hosting network, paying with one card, mailing from one domain, sending from a few servers;
proxy resellers put many accounts behind one gateway and one set of cards. Level 1 gives
every account its own card, residential proxy exits in its declared country and a sign-up
date of its own; level 2 spreads the volume over more accounts that keep human hours; level
3 swaps the operator's own client for mainstream ones, paraphrases every ask and mixes in
ordinary chatter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .accounts import NetPlan, Traffic, Truth, company_domain, university_domain
from .campaigns import MIN_ACCOUNTS, SPREAD, Spec, kit
from .harness import Harness
from .identities import Minter
from .network import BY_COUNTRY, CUSTOMER_COUNTRIES, CUSTOMER_WEIGHTS, SDKS, TZ, Endpoint
from .populations import REFERENCE_DAYS, Row

_OPERATOR_COUNTRIES: Final = ("SG", "HK", "US", "JP", "KR", "TW", "GB")


@dataclass(frozen=True, slots=True)
class Reseller:
    """A proxy reseller: one gateway in front of many accounts, resold to many customers."""

    gateway: tuple[Endpoint, ...]
    user_agent: str
    tls: str
    cards: tuple[str, ...]
    domain: str
    customers: float  # share of an account's traffic that is real customers'


def resellers(m: Minter, scale: float) -> list[Reseller]:
    rng = m.rng
    out = []
    for _ in range(max(1, round(5 * scale**0.5))):
        _, agent, tls = m.sdk(("go", "litellm", "requests"), (5, 3, 2))
        gateway = m.hosted(rng.randint(3, 8), ("HK", "SG", "US", "JP"))
        cards = tuple(m.card() for _ in range(rng.randint(3, 6)))
        out.append(
            Reseller(gateway, agent, tls, cards, company_domain(rng), rng.uniform(0.25, 0.45))
        )
    return out


@dataclass(frozen=True, slots=True)
class Cell:
    """Accounts an operator set up together (evasion 0): they share what they were made of."""

    index: int
    card: str
    signup_at: float
    net: tuple[Endpoint, ...]
    domain: str


_MAINSTREAM: Final = (
    ("openai-python", 4.0),
    ("anthropic-python", 3.0),
    ("openai-node", 2.0),
    ("litellm", 1.0),
    ("claude-cli", 6.0),
)


def _client(m: Minter, spec: Spec, evasion: int, kit_: tuple[Harness, ...]) -> tuple[str, str, str]:
    """(sdk, user agent, TLS): the operator's pinned client, or (evasion 3) a mainstream one
    that can speak the harness's surfaces (the coding CLI only for a CLI-shaped harness)."""
    if evasion >= 3:
        surfaces = {h.surface for h in kit_}
        cli = any(h.toolset == "cli" for h in kit_)
        names, weights = zip(
            *(
                (name, w)
                for name, w in _MAINSTREAM
                if surfaces & set(SDKS[name].surfaces) and (name != "claude-cli" or cli)
            ),
            strict=True,
        )
        return m.sdk(names, weights)
    name = spec.clients[m.rng.randrange(len(spec.clients))]
    sdk = SDKS[name]
    return name, sdk.agent.format(v=sdk.versions[-1]), sdk.tls[0]


class Operator:
    """Builds one campaign's accounts."""

    def __init__(
        self, m: Minter, spec: Spec, scale: float, evasion: int, hydras: list[Reseller], wave: int
    ) -> None:
        self.m, self.spec, self.evasion, self.hydras, self.wave = m, spec, evasion, hydras, wave
        n = max(MIN_ACCOUNTS, round(spec.accounts * scale))
        self.human = evasion >= 2
        self.n = round(n * SPREAD) if self.human else n
        self.active = 0.6 if self.human else 0.92
        week = (5 + 2 * (0.45 if self.human else 1.0)) / 7
        # Each account behaves as at scale 1 whatever the scale (detection looks at accounts);
        # below the minimum number of accounts the campaign is a little larger than scaled.
        per_account = spec.exchanges / spec.accounts / REFERENCE_DAYS
        self.rate = per_account * (n / self.n) / self.active / week
        self.extra = dict(spec.extra)
        if self.human:  # people do a few things per sitting, not a worker's endless batch
            self.extra["steps"] = max(2.0, self.extra["steps"] / 3)
        self.domains = [company_domain(m.rng) for _ in range(m.rng.randint(2, 3))]
        self.cells = 0

    def accounts(self) -> list[Row]:
        rng = self.m.rng
        names, weights = zip(*self.spec.channels, strict=True)
        channels = [rng.choices(names, weights)[0] for _ in range(self.n)]
        rows: list[Row] = []
        for channel in names:
            left = channels.count(channel)
            while left:
                size = min(left, rng.randint(8, 25))
                cell = self._cell(channel)
                rows += [self._account(channel, cell) for _ in range(size)]
                left -= size
        return rows

    def _cell(self, channel: str) -> Cell:
        m, rng = self.m, self.m.rng
        self.cells += 1
        return Cell(
            self.cells,
            m.card(),
            m.before(3, 45) if rng.random() < 0.8 else m.during(0.0, 0.5),
            m.hosted(rng.randint(2, 4), ("HK", "SG", "US")),
            university_domain(rng) if channel == "education" else rng.choice(self.domains),
        )

    def _account(self, channel: str, cell: Cell) -> Row:
        m, rng, spec, evasion = self.m, self.m.rng, self.spec, self.evasion
        hydra = self.hydras[rng.randrange(len(self.hydras))] if channel == "reseller" else None
        education = channel == "education"
        if evasion >= 1:
            country = rng.choices(CUSTOMER_COUNTRIES, CUSTOMER_WEIGHTS)[0]
            net = NetPlan((), BY_COUNTRY[country], 1.0)
            created = m.before(0, 120) if rng.random() < 0.85 else m.during(0.0, 0.6)
            signup = m.home(country, 1)[0].ip
            card = None if education else m.card()
            email = (
                university_domain(rng)
                if education
                else company_domain(rng)
                if rng.random() < 0.25
                else m.email(country, None, 0)
            )
        else:
            country = rng.choice(_OPERATOR_COUNTRIES)
            fixed = hydra.gateway if hydra else cell.net
            net = NetPlan(fixed)
            created = cell.signup_at + rng.uniform(0, 3000)
            signup = fixed[rng.randrange(len(fixed))].ip
            card = None if education else rng.choice(hydra.cards) if hydra else cell.card
            email = (
                hydra.domain
                if hydra and rng.random() < 0.5
                else cell.domain
                if rng.random() < 0.7
                else m.email(country, None, 0)
            )
        ident = m.identity(
            created=created,
            country=country,
            email=email,
            payment=card,
            program="standard" if channel == "reseller" else channel,
            verified=True if channel == "enterprise" else rng.choice((False, False, None)),
            signup_ip=signup,
            keys=rng.randint(1, 3) if hydra else 1,
        )
        harnesses = kit(spec, evasion, rng)
        sdk, agent, tls = _client(m, spec, evasion, harnesses)
        if hydra:  # the gateway's client and TLS stack, whoever is behind it
            sdk, agent, tls = "go", hydra.user_agent, hydra.tls
        harnesses = tuple(h for h in harnesses if h.surface in SDKS[sdk].surfaces) or harnesses
        chatter = (hydra.customers if hydra else 0.0) + (0.3 if evasion >= 3 else 0.0)
        mix = (*((k, w * (1 - chatter)) for k, w in spec.mix), ("chatter", chatter))
        timing = "poisson" if self.human else spec.timing
        traffic = Traffic(
            rate=self.rate * rng.uniform(0.6, 1.4),
            mix=mix,
            harnesses=harnesses,
            net=net,
            user_agent=agent,
            tls=tls,
            shape=rng.choice(("dev", "evening")) if self.human else "flat",
            tz=TZ.get(country, 0),
            timing=timing,
            active_p=self.active,
            weekend=0.45 if self.human else 1.0,
            adoption=spec.adoption,
            models=spec.models,
            end_users=20 if hydra else 0,
            machine=not self.human,
            limit_rate=0.003 if self.human else 0.02,
            chatter=chatter,
            lang_zh=spec.lang_zh,
            jitter=evasion >= 3,
            wave=self.wave if timing == "wave" else -1,
            cell=cell.index,
            extra=self.extra,
        )
        return ident, Truth("campaign", spec.id, spec.actor), traffic


def campaign(
    m: Minter, spec: Spec, scale: float, evasion: int, hydras: list[Reseller], wave: int
) -> list[Row]:
    return Operator(m, spec, scale, evasion, hydras, wave).accounts()
