"""Benign populations: who ordinary customers are and how they use the API.

Volumes are per 14 simulated days at scale 1, next to about 16M campaign exchanges. Several
populations deliberately resemble an attack on one axis each, so that no single signal
separates them: eval runners (step-by-step prompts, grading, n > 1, log-probabilities,
bursts on a new model), classrooms (a burst of education sign-ups on one campus network,
the same assignment), batch pipelines (templated, regular, high volume), CI coding bots
(agent loops around the clock from cloud runners), chat apps (one account, cloud egress,
every kind of content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .accounts import Identity, Traffic, Truth, company_domain, university_domain
from .harness import Harness, coding_harnesses, harness
from .identities import Minter
from .network import HOSTING, SDKS, TZ, place_name, private_network
from .templates import CHAT_APP_SYSTEMS, DEVELOPER_SYSTEMS
from .wire import Params

Row = tuple[Identity, Truth, Traffic]
REFERENCE_DAYS: Final = 14.0
BOT_SHARE: Final = 0.25


@dataclass(frozen=True, slots=True)
class Volume:
    accounts: int  # at scale 1
    exchanges: int  # at scale 1, per REFERENCE_DAYS
    minimum: int  # accounts, at any scale


VOLUMES: Final = {
    "chat_app": Volume(30, 5_000_000, 2),
    "developer": Volume(30_000, 2_400_000, 24),
    "coding_agent": Volume(5_000, 5_500_000, 8),
    "batch_pipeline": Volume(300, 4_000_000, 2),
    "eval_runner": Volume(120, 1_000_000, 2),
    "classroom": Volume(3_000, 100_000, 12),
}


def count(volume: Volume, scale: float) -> int:
    return max(volume.minimum, round(volume.accounts * scale))


def per_day(volume: Volume, scale: float, n: int, active: float, weekend: float) -> float:
    """Exchanges per active day for each of ``n`` accounts to reach the volume on average."""
    week = (5 + 2 * weekend) / 7
    return volume.exchanges * scale / REFERENCE_DAYS / n / active / week


def _surface_harness(m: Minter, sdk: str, system: str | None, params: Params) -> Harness:
    surfaces = SDKS[sdk].surfaces
    return harness(surfaces[m.rng.randrange(len(surfaces))], system, params)


def chat_apps(m: Minter, scale: float) -> list[Row]:
    rng, vol = m.rng, VOLUMES["chat_app"]
    n = count(vol, scale)
    rows = []
    for _ in range(n):
        name = place_name(rng)
        country = rng.choice(("US", "US", "GB", "DE", "IN", "JP", "BR"))
        sdk, agent, tls = m.sdk(("openai-node", "openai-python", "anthropic-python"), (4, 3, 3))
        system = rng.choice(CHAT_APP_SYSTEMS).replace("{name}", name)
        params = Params(
            temperature=0.7, max_tokens=1024, stream=True, include_usage=rng.random() < 0.5
        )
        ident = m.identity(
            created=m.before(100, 800),
            country=country,
            email=company_domain(rng),
            payment=m.card(),
            program="enterprise",
            verified=True,
            signup_ip=m.home(country, 1)[0].ip,
            keys=rng.randint(2, 4),
        )
        rate = per_day(vol, scale, n, 1.0, 0.9)
        traffic = Traffic(
            rate=rate,
            mix=(("dialogue", 0.55), ("single", 0.45)),
            harnesses=(_surface_harness(m, sdk, system, params),),
            net=m.net(m.hosted(rng.randint(2, 4))),
            user_agent=agent,
            tls=tls,
            shape="evening",
            tz=TZ.get(country, 0),
            weekend=0.9,
            adoption="never",
            models=(("vela-3-mini", 0.8), ("vela-3", 0.2)),
            end_users=max(50, int(rate * 2)),
            limit_rate=0.003,
        )
        rows.append((ident, Truth("chat_app"), traffic))
    return rows


_DEV_SDKS: Final = (
    "openai-python",
    "openai-node",
    "anthropic-python",
    "anthropic-node",
    "curl",
    "requests",
    "litellm",
    "langchain",
    "aiohttp",
)
_DEV_SDK_WEIGHTS: Final = (35.0, 12.0, 18.0, 6.0, 6.0, 4.0, 8.0, 6.0, 5.0)


def _dev_params(m: Minter) -> Params:
    rng = m.rng
    effort = rng.choice((None, None, "low", "medium", "high"))
    return Params(
        max_tokens=rng.choice((None, 512, 1024, 2048, 4096)),
        temperature=rng.choice((None, 0.0, 0.2, 0.7, 1.0)),
        stream=rng.random() < 0.4,
        include_usage=rng.random() < 0.5,
        effort=effort,
        summary="auto" if effort and rng.random() < 0.4 else None,
        thinking=rng.choice((None, 4096, 8192)) if rng.random() < 0.3 else None,
        max_key=rng.choice(("max_tokens", "max_completion_tokens")),
    )


def developers(m: Minter, scale: float) -> list[Row]:
    rng, vol = m.rng, VOLUMES["developer"]
    n = count(vol, scale)
    companies = [(company_domain(rng), m.org()) for _ in range(max(3, n // 6))]
    rows = []
    for _ in range(n):
        country = m.country()
        works_at = companies[rng.randrange(len(companies))]
        own_domain = rng.random() < 0.45
        sdk, agent, tls = m.sdk(_DEV_SDKS, _DEV_SDK_WEIGHTS)
        home = m.home(country, rng.randint(1, 3))
        fixed = home
        if own_domain and rng.random() < 0.6:  # at the office too
            fixed += (
                private_network(
                    rng, "corporate", country, works_at[0].split(".")[0].capitalize() + " Inc"
                ).endpoint(rng),
            )
        if rng.random() < 0.05:  # a cloud dev box
            fixed += m.hosted(1)
        created = m.during(0.0, 0.9) if rng.random() < 0.03 else m.before(1, 900)
        ident = m.identity(
            created=created,
            country=country,
            email=works_at[0] if own_domain else m.email(country, None, 0),
            payment=m.card(),
            program="startup" if rng.random() < 0.05 else "standard",
            verified=rng.random() < 0.25,
            signup_ip=home[0].ip,
            keys=rng.choice((1, 1, 2)),
        )
        active = rng.uniform(0.15, 0.7)
        base = per_day(vol, scale, n, 0.42, 0.6)
        system = rng.choice(DEVELOPER_SYSTEMS) if rng.random() < 0.5 else None
        plain = _surface_harness(m, sdk, system, _dev_params(m))
        agent_h = harness(
            plain.surface,
            "You are a coding assistant with repository tools.",
            Params(temperature=0.2),
            "inhouse",
        )
        traffic = Traffic(
            rate=base * rng.lognormvariate(-0.5, 1.0),
            active_p=active,
            mix=(
                ("single", 0.55),
                ("dialogue", 0.15),
                ("tool_task", 0.12),
                ("vision", 0.06),
                ("agent_task", 0.04),
                ("agent_loop", 0.08),
            ),
            harnesses=(plain, agent_h),
            net=m.net(fixed),
            user_agent=agent,
            tls=tls,
            shape="dev",
            tz=TZ.get(country, 0),
            weekend=0.6,
            adoption=rng.choices(("early", "slow", "never"), (3, 6, 1))[0],
            models=(
                ("vela-3", 0.45),
                ("vela-3-mini", 0.35),
                ("vela-3-reasoner", 0.15),
                ("vela-2", 0.05),
            ),
            end_users=50 if rng.random() < 0.05 else 0,
            extra={"steps": 8.0},
        )
        rows.append((ident, Truth("developer"), traffic))
    return rows


def coding_agents(m: Minter, scale: float) -> list[Row]:
    rng, vol = m.rng, VOLUMES["coding_agent"]
    n = count(vol, scale)
    tools = coding_harnesses()
    sdk_of = {"cli": "claude-cli", "ide": "cline", "codex": "codex", "inhouse": "openai-python"}
    # A quarter are CI jobs that run the agent on every push; exactly a quarter, because
    # a bot is five times busier than a person and small runs have few accounts.
    bots = [i < max(1, round(n * BOT_SHARE)) for i in range(n)]
    rng.shuffle(bots)
    rows: list[Row] = []
    while len(rows) < n:
        country = m.country()
        domain, org, card = company_domain(rng), m.org(), m.card()
        office = private_network(rng, "corporate", country, domain.split(".")[0].capitalize())
        program = rng.choice(("standard", "enterprise", "startup"))
        for _ in range(min(n - len(rows), rng.choice((1, 1, 2, 3, 5, 8)))):
            bot = bots[len(rows)]
            kind = rng.choices(("cli", "ide", "codex", "inhouse"), (5, 2, 2, 1))[0]
            sdk = SDKS[sdk_of[kind]]
            fixed = (office.endpoint(rng), *m.home(country, 1))
            runners = tuple(n_ for n_ in HOSTING if n_.asn in (8075, 16509))
            ident = m.identity(
                created=m.before(10, 700),
                country=country,
                email=domain,
                payment=card,
                program=program,
                verified=program != "startup",
                signup_ip=fixed[0].ip,
                org=org,
                keys=rng.choice((1, 2, 3)),
            )
            rate = (
                per_day(vol, scale, n, 0.75, 0.3)
                * (2.5 if bot else 0.5)
                * (n * BOT_SHARE / max(1, round(n * BOT_SHARE)) if bot else 1.0)
            )
            traffic = Traffic(
                rate=rate,
                active_p=1.0 if bot else 0.7,
                mix=(("agent_loop", 1.0),) if bot else (("agent_loop", 0.85), ("single", 0.15)),
                harnesses=(tools[kind],),
                user_agent=sdk.user_agent(rng),
                tls=rng.choice(sdk.tls),
                net=m.net(fixed, runners, 1.0 if bot else 0.0),
                shape="flat" if bot else "office",
                tz=TZ.get(country, 0),
                weekend=1.0 if bot else 0.3,
                machine=bot,
                adoption=rng.choice(("early", "never")),
                models=(("vela-3", 0.7), ("vela-3-reasoner", 0.3)),
                extra={"steps": 14.0 if bot else 10.0},
            )
            rows.append((ident, Truth("coding_agent"), traffic))
    return rows


def batch_pipelines(m: Minter, scale: float) -> list[Row]:
    rng, vol = m.rng, VOLUMES["batch_pipeline"]
    n = count(vol, scale)
    rows = []
    for _ in range(n):
        country = rng.choice(("US", "US", "DE", "GB", "IN", "SG"))
        sdk, agent, tls = m.sdk(
            ("openai-python", "litellm", "requests", "anthropic-python"), (5, 2, 1, 2)
        )
        task = rng.randrange(6)
        params = Params(
            temperature=0.0,
            max_tokens=256,
            json_mode=task in (1, 3),
            max_key=rng.choice(("max_tokens", "max_completion_tokens")),
        )
        ident = m.identity(
            created=m.before(30, 900),
            country=country,
            email=company_domain(rng),
            payment=m.card(),
            program=rng.choice(("standard", "enterprise")),
            verified=True,
            signup_ip=m.home(country, 1)[0].ip,
            trusted=rng.random() < 0.1,
            keys=rng.randint(1, 3),
        )
        night = rng.random() < 0.4
        traffic = Traffic(
            rate=per_day(vol, scale, n, 1.0, 1.0),
            mix=(("batch", 1.0),),
            harnesses=(_surface_harness(m, sdk, None, params),),
            net=m.net(m.hosted(2)),
            user_agent=agent,
            tls=tls,
            shape="night" if night else "flat",
            tz=TZ.get(country, 0),
            timing="regular",
            weekend=1.0,
            machine=True,
            adoption="never",
            models=(("vela-3-mini", 0.8), ("vela-2", 0.2)),
            limit_rate=0.012,
            cell=task,
            extra={"steps": 40.0},
        )
        rows.append((ident, Truth("batch_pipeline"), traffic))
    return rows


def eval_runners(m: Minter, scale: float) -> list[Row]:
    rng, vol = m.rng, VOLUMES["eval_runner"]
    n = count(vol, scale)
    rows = []
    for i in range(n):
        country = rng.choice(("US", "US", "GB", "FR", "DE", "CA", "SG"))
        sdk, agent, tls = m.sdk(("openai-python", "anthropic-python", "litellm"), (4, 3, 3))
        params = Params(
            temperature=0.0,
            max_tokens=rng.choice((4096, 8192, 16384, 32768)),
            effort="high",
            thinking=16000,
            summary="auto",
        )
        ident = m.identity(
            created=m.before(60, 700),
            country=country,
            email=company_domain(rng),
            payment=m.card(),
            program=rng.choice(("research", "enterprise")),
            verified=True,
            signup_ip=m.home(country, 1)[0].ip,
            trusted=i == 0 and n > 2,
            keys=rng.randint(1, 4),
        )
        traffic = Traffic(
            rate=per_day(vol, scale, n, 0.35, 0.3) * 0.55,
            active_p=0.35,
            mix=(("eval_run", 1.0),),
            harnesses=(_surface_harness(m, sdk, None, params),),
            net=m.net(m.hosted(2, ("US",))),
            user_agent=agent,
            tls=tls,
            shape="office",
            tz=TZ.get(country, 0),
            weekend=0.3,
            machine=True,
            adoption="eval",
            models=(("vela-3", 0.5), ("vela-3-reasoner", 0.5)),
            extra={"steps": 60.0, "burst": 6.0},
        )
        rows.append((ident, Truth("eval_runner"), traffic))
    return rows


def classrooms(m: Minter, scale: float) -> list[Row]:
    rng, vol = m.rng, VOLUMES["classroom"]
    n = count(vol, scale)
    rows: list[Row] = []
    cohort = 0
    while len(rows) < n:
        size = min(n - len(rows), max(12, rng.randint(20, 80)))
        country = rng.choice(("US", "US", "GB", "DE", "IN", "KR", "SG", "CA"))
        domain = university_domain(rng)
        campus = private_network(
            rng, "campus", country, domain.split(".")[-2].capitalize() + " University"
        )
        lab = campus.prefix(rng)  # the lab and campus wi-fi: one /24 for the whole class
        opened = m.during(0.0, 0.15) if rng.random() < 0.3 else m.before(3, 25)
        for _ in range(size):
            here = campus.endpoint(rng, lab)
            ident = m.identity(
                created=opened + rng.uniform(0, 5400),
                country=country,
                email=domain,
                payment=None,
                program="education",
                verified=rng.choice((False, None)),
                signup_ip=here.ip,
            )
            sdk = SDKS["openai-python" if rng.random() < 0.8 else "curl"]
            traffic = Traffic(
                rate=per_day(vol, scale, n, 0.45, 0.1),
                active_p=0.45,
                mix=(("classroom", 1.0),),
                harnesses=(harness("openai.chat", None, Params()),),
                net=m.net((here, *m.home(country, 1))),
                user_agent=sdk.user_agent(rng),
                tls=rng.choice(sdk.tls),
                shape="class",
                tz=TZ.get(country, 0),
                weekend=0.1,
                adoption="never",
                models=(("vela-3-mini", 1.0),),
                cell=cohort,
            )
            rows.append((ident, Truth("classroom"), traffic))
        cohort += 1
    return rows


BUILDERS: Final[dict[str, Callable[[Minter, float], list[Row]]]] = {
    "chat_app": chat_apps,
    "developer": developers,
    "coding_agent": coding_agents,
    "batch_pipeline": batch_pipelines,
    "eval_runner": eval_runners,
    "classroom": classrooms,
}
