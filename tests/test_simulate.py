"""The labelled-traffic simulator: contract, determinism, labels, and the behaviours it claims.

Small runs (scale 0.001 to 0.002, three or four days) keep this fast; the properties tested
do not depend on size because every campaign keeps a minimum number of accounts.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard import corpus
from distillguard.exchange import IngestOptions, ingest
from distillguard.simulate import SimulationSummary, simulate
from distillguard.simulate.network import TZ
from distillguard.types import BENIGN_POPULATIONS, CAPABILITIES, SURFACES

START = datetime(2025, 3, 3, tzinfo=UTC)
SEED = 1


@dataclass(frozen=True)
class Run:
    out: Path
    summary: SimulationSummary
    records: list[dict[str, Any]]
    labels: dict[str, dict[str, str]]
    registry: dict[str, dict[str, Any]]

    def group(self, record: dict[str, Any]) -> str:
        label = self.labels[record["account_id"]]
        return label["campaign_id"] or label["population"]

    def of(self, group: str) -> Iterator[dict[str, Any]]:
        return (r for r in self.records if self.group(r) == group)

    def accounts(self, predicate: Callable[[dict[str, str]], bool]) -> list[str]:
        return [a for a, label in self.labels.items() if predicate(label)]


def read(out: Path, summary: SimulationSummary) -> Run:
    records = [
        orjson.loads(line)
        for path in sorted((out / "exchanges").glob("*.jsonl.gz"))
        for line in gzip.decompress(path.read_bytes()).split(b"\n")
        if line
    ]
    with (out / "labels.csv").open(newline="", encoding="utf-8") as f:
        labels = {row["account_id"]: row for row in csv.DictReader(f)}
    registry = {
        row["account_id"]: row
        for row in map(orjson.loads, (out / "accounts.jsonl").read_bytes().splitlines())
    }
    return Run(out, summary, records, labels, registry)


RunMaker = Callable[..., Run]


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> RunMaker:
    cache: dict[tuple[Any, ...], Run] = {}

    def make(
        scale: float = 0.001, days: int = 3, seed: int = SEED, evasion: int = 0, workers: int = 1
    ) -> Run:
        key = (scale, days, seed, evasion, workers)
        if key not in cache:
            out = tmp_path_factory.mktemp("traffic")
            summary = simulate(
                out,
                scale=scale,
                days=days,
                seed=seed,
                evasion=evasion,
                start=START,
                workers=workers,
            )
            cache[key] = read(out, summary)
        return cache[key]

    return make


def _files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }


def _prefix(ip: str | None) -> str | None:
    return ip.rsplit(".", 1)[0] if ip and "." in ip else None


# -- determinism -------------------------------------------------------------------------


def test_same_arguments_give_the_same_bytes_whatever_the_workers(make_run: RunMaker) -> None:
    one, two = make_run(workers=1), make_run(workers=2)
    assert _files(one.out) == _files(two.out)
    assert len(one.summary.files) == 3 + 4


def test_another_seed_gives_other_traffic(make_run: RunMaker) -> None:
    one, other = make_run(), make_run(seed=SEED + 1)
    a, b = _files(one.out), _files(other.out)
    assert a.keys() == b.keys()
    assert a["exchanges/2025-03-03.jsonl.gz"] != b["exchanges/2025-03-03.jsonl.gz"]
    assert set(one.labels).isdisjoint(other.labels)


# -- the contract --------------------------------------------------------------------------


_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_BODY = {"openai.chat": "messages", "openai.responses": "input", "anthropic.messages": "messages"}


def test_every_line_is_a_contract_exchange(make_run: RunMaker) -> None:
    run = make_run()
    assert len(run.records) == run.summary.exchanges + run.summary.duplicates
    end = START + timedelta(days=3, hours=6)
    for r in run.records:
        assert {"id", "ts", "account_id", "surface", "request"} <= r.keys()
        assert r["surface"] in SURFACES
        assert _TS.match(r["ts"]), r["ts"]
        assert START <= datetime.fromisoformat(r["ts"]) < end
        assert _BODY[r["surface"]] in r["request"] and isinstance(r["request"]["model"], str)
        if r["status"] == 200:
            response = r["response"]
            assert response["id"] and ("usage" in response)
        client = r["client"]
        assert client is None or set(client) == {
            "ip",
            "user_agent",
            "asn",
            "asn_org",
            "country",
            "tls_fingerprint",
        }
    surfaces = Counter(r["surface"] for r in run.records)
    assert set(surfaces) == set(SURFACES)


def test_the_real_reader_accepts_every_record(make_run: RunMaker, tmp_path: Path) -> None:
    run = make_run()
    summary = ingest(
        [run.out / "exchanges"],
        tmp_path / "store",
        accounts=run.out / "accounts.jsonl",
        models=run.out / "models.jsonl",
        options=IngestOptions(workers=1),
    )
    assert summary.rejected == 0, summary.rejected_by_reason
    assert summary.warnings_by_reason == {}
    assert summary.exchanges == run.summary.exchanges
    assert summary.duplicates == run.summary.duplicates
    assert summary.registry is not None and summary.registry.rejected == 0


def test_bodies_have_each_apis_own_shape(make_run: RunMaker) -> None:
    run = make_run()
    seen: Counter[str] = Counter()
    for r in run.records:
        req, resp = r["request"], r["response"]
        ok = r["status"] == 200
        if r["surface"] == "openai.chat" and ok:
            choice = resp["choices"][0]
            assert resp["object"] == "chat.completion" and "finish_reason" in choice
            seen["chat.tool_calls"] += bool(choice["message"].get("tool_calls"))
            seen["chat.reasoning"] += bool(choice["message"].get("reasoning_content"))
            seen["chat.tool_result"] += any(m["role"] == "tool" for m in req["messages"])
        elif r["surface"] == "openai.responses" and ok:
            kinds = {item["type"] for item in resp["output"]}
            assert resp["object"] == "response" and resp["status"] in ("completed", "incomplete")
            seen["responses.function_call"] += "function_call" in kinds
            seen["responses.reasoning"] += "reasoning" in kinds
            seen["responses.output"] += any(
                isinstance(i, dict) and i.get("type", "").endswith("_output")
                for i in (req["input"] if isinstance(req["input"], list) else [])
            )
        elif r["surface"] == "anthropic.messages" and ok:
            kinds = {block["type"] for block in resp["content"]}
            assert resp["type"] == "message" and resp["stop_reason"] in (
                "end_turn",
                "max_tokens",
                "tool_use",
            )
            assert isinstance(req["max_tokens"], int)
            seen["anthropic.tool_use"] += "tool_use" in kinds
            seen["anthropic.thinking"] += "thinking" in kinds
            seen["anthropic.tool_result"] += any(
                isinstance(m["content"], list) and m["content"][0]["type"] == "tool_result"
                for m in req["messages"]
            )
        seen["image"] += b"sha256:" in orjson.dumps(req)
        seen["stream"] += bool(req.get("stream"))
        seen["end_user"] += "end_user_id" in r
    wanted = [
        "chat.tool_calls",
        "chat.reasoning",
        "chat.tool_result",
        "responses.function_call",
        "responses.reasoning",
        "responses.output",
        "anthropic.tool_use",
        "anthropic.thinking",
        "anthropic.tool_result",
        "image",
        "stream",
        "end_user",
    ]
    assert [k for k in wanted if not seen[k]] == []


def test_logs_have_the_imperfections_of_real_logs(make_run: RunMaker) -> None:
    run = make_run(scale=0.002, days=4)
    statuses = Counter(r["status"] for r in run.records)
    assert statuses[429] > 0 and sum(statuses[s] for s in (500, 502, 503, 504, 529)) > 0
    assert statuses[None] > 0
    assert any(r["response"] is None for r in run.records)
    assert any(r["client"] is None for r in run.records)
    assert any(r["client"] and r["client"]["user_agent"] is None for r in run.records)
    assert any("meta" not in r for r in run.records)
    assert any("org_id" not in r for r in run.records)
    assert any(
        r["status"] == 200
        and r["response"]["object"] == "chat.completion"
        and r["response"]["usage"] is None
        for r in run.records
        if r["surface"] == "openai.chat"
    )
    assert run.summary.duplicates > 0
    ids = Counter(r["id"] for r in run.records)
    assert sum(n - 1 for n in ids.values()) == run.summary.duplicates


# -- registry, releases, labels --------------------------------------------------------------


def test_registry_and_labels_cover_the_accounts(make_run: RunMaker) -> None:
    run = make_run()
    in_log = {r["account_id"] for r in run.records}
    assert in_log <= run.labels.keys()
    assert run.registry.keys() <= run.labels.keys()
    missing = run.labels.keys() - run.registry.keys()
    assert len(missing) <= max(3, 0.02 * len(run.labels))  # a few, as in real registries
    for r in run.records:
        row = run.registry.get(r["account_id"])
        if row is not None:
            assert row["org_id"] == r.get("org_id")
    for row in run.registry.values():
        assert row["created_at"].endswith("Z") and row["program"] in (
            "standard",
            "education",
            "startup",
            "research",
            "enterprise",
        )
    assert run.summary.accounts == len(run.labels)


def test_labels_name_every_population_and_campaign(make_run: RunMaker) -> None:
    run = make_run()
    populations = Counter(label["population"] for label in run.labels.values())
    assert set(populations) == {*BENIGN_POPULATIONS, "campaign"}
    for label in run.labels.values():
        attack = label["population"] == "campaign"
        assert label["label"] == ("attack" if attack else "benign")
        assert bool(label["campaign_id"]) == attack and bool(label["actor"]) == attack
    campaigns = Counter(
        label["campaign_id"] for label in run.labels.values() if label["campaign_id"]
    )
    assert sorted(campaigns) == ["A-reasoning", "B-agentic", "C-coding", "D-traces"]
    assert min(campaigns.values()) >= 6  # a handful even at tiny scales
    assert sorted(run.summary.campaigns) == sorted(campaigns)


def test_summary_counts_each_campaign_and_names_its_top_capability(make_run: RunMaker) -> None:
    run = make_run()
    written = orjson.loads((run.out / "summary.json").read_bytes())
    accounts = Counter(label["campaign_id"] for label in run.labels.values())
    seen: set[str] = set()
    exchanges: Counter[str] = Counter()
    for r in run.records:
        if r["id"] not in seen:
            seen.add(r["id"])
            exchanges[run.labels[r["account_id"]]["campaign_id"]] += 1
    assert written["campaigns"] == {
        campaign: {
            "accounts": accounts[campaign],
            "exchanges": exchanges[campaign],
            "capability": capability,
        }
        for campaign, capability in (
            ("A-reasoning", "reasoning"),
            ("B-agentic", "agentic"),
            ("C-coding", "coding"),
            ("D-traces", "reasoning"),
        )
    }
    assert all(c["capability"] in CAPABILITIES for c in written["campaigns"].values())


def test_model_releases_include_one_mid_period(make_run: RunMaker) -> None:
    run = make_run()
    rows = [orjson.loads(line) for line in (run.out / "models.jsonl").read_bytes().splitlines()]
    released = [datetime.fromisoformat(row["released_at"]) for row in rows]
    assert sum(START < t < START + timedelta(days=3) for t in released) == 1
    used = {r["request"]["model"] for r in run.records}
    assert used <= {row["model"] for row in rows}


def _shape(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    head = value.partition("_")[0] if "_" in value[:6] else value.partition("-")[0]
    return head, len(value)


def _alphabet(values: list[str | None]) -> set[str]:
    return {
        "digit" if c.isdigit() else "upper" if c.isupper() else "lower"
        for v in values
        if v
        for c in v.split("_")[-1].split("-")[-1]
    }


def test_ids_do_not_tell_the_label(make_run: RunMaker) -> None:
    run = make_run(scale=0.002, days=4)
    attack = set(run.accounts(lambda label: label["label"] == "attack"))
    shapes: dict[str, dict[bool, set[Any]]] = defaultdict(lambda: defaultdict(set))
    for r in run.records:
        side = r["account_id"] in attack
        for field in ("account_id", "api_key_id", "org_id", "id"):
            shapes[field][side].add(_shape(r.get(field)))
    for row in run.registry.values():
        shapes["payment"][row["account_id"] in attack].add(_shape(row["payment_fingerprint"]))
    for field, sides in shapes.items():
        assert sides[True] == sides[False], field
    for field in ("account_id", "api_key_id", "org_id"):
        assert _alphabet(
            [r.get(field) for r in run.records if r["account_id"] in attack]
        ) == _alphabet([r.get(field) for r in run.records if r["account_id"] not in attack])
    # File order is by the random ids, not grouped by how the account was made.
    order = list(run.labels)
    assert order == sorted(order) and list(run.registry) == sorted(run.registry)
    # The populations are interleaved in id order, not in blocks.
    runs = sum(
        1 for a, b in itertools.pairwise(order) if run.labels[a]["label"] != run.labels[b]["label"]
    )
    assert runs > len(attack) / 3
    # No label value is written into the log or the registry.
    names = {
        "chat_app",
        "coding_agent",
        "batch_pipeline",
        "eval_runner",
        "A-reasoning",
        "B-agentic",
        "C-coding",
        "D-traces",
    }
    log = b"".join(orjson.dumps(r) for r in run.records).decode()
    registry = (run.out / "accounts.jsonl").read_text()
    assert [n for n in names if n in log or n in registry] == []


# -- behaviours ------------------------------------------------------------------------------


def _release(run: Run) -> datetime:
    rows = [orjson.loads(line) for line in (run.out / "models.jsonl").read_bytes().splitlines()]
    return max(datetime.fromisoformat(row["released_at"]) for row in rows)


def _daily(run: Run, group: str) -> float:
    """Exchanges per account per day of its life inside the simulated period."""
    end = max(datetime.fromisoformat(r["ts"]) for r in run.records)
    counts = Counter(r["account_id"] for r in run.of(group) if r["account_id"] in run.registry)
    days = sum(
        (end - max(START, datetime.fromisoformat(run.registry[a]["created_at"]))).total_seconds()
        / 86400
        for a in run.accounts(lambda x: (x["campaign_id"] or x["population"]) == group)
        if a in run.registry
    )
    return sum(counts.values()) / days


def _new_model_share(run: Run, group: str, hours: float) -> float:
    release = _release(run)
    window = [
        r
        for r in run.of(group)
        if release <= datetime.fromisoformat(r["ts"]) < release + timedelta(hours=hours)
    ]
    assert window, group
    hits = sum(r["request"]["model"] == run.summary.new_model for r in window)
    return float(hits) / len(window)


def test_campaign_c_moves_to_the_new_model_within_a_day(make_run: RunMaker) -> None:
    run = make_run(scale=0.002, days=4)
    assert _new_model_share(run, "C-coding", 24) >= 0.4
    assert _new_model_share(run, "chat_app", 24) == 0.0
    release = _release(run)
    before = [r for r in run.of("C-coding") if datetime.fromisoformat(r["ts"]) < release]
    assert before and all(r["request"]["model"] != run.summary.new_model for r in before)


def test_eval_runners_burst_on_the_new_model(make_run: RunMaker) -> None:
    run = make_run()
    release = _release(run)
    per_hour_before = (
        sum(datetime.fromisoformat(r["ts"]) < release for r in run.of("eval_runner"))
        / (release - START).total_seconds()
        * 3600
    )
    after = [
        r
        for r in run.of("eval_runner")
        if release <= datetime.fromisoformat(r["ts"]) < release + timedelta(hours=24)
    ]
    assert len(after) / 24 > 2 * per_hour_before
    assert _new_model_share(run, "eval_runner", 24) > 0.6


def _shared(values: list[str | None]) -> int:
    """How many accounts share a value with at least two others."""
    counts = Counter(v for v in values if v)
    return sum(n for n in counts.values() if n >= 3)


def _campaign_rows(run: Run) -> list[dict[str, Any]]:
    return [row for a, row in run.registry.items() if run.labels[a]["label"] == "attack"]


def test_evasion_0_campaigns_share_cards_networks_and_sign_ups(make_run: RunMaker) -> None:
    run = make_run(evasion=0)
    rows = _campaign_rows(run)
    assert _shared([r["payment_fingerprint"] for r in rows]) >= len(rows) / 2
    assert _shared([_prefix(r["signup_ip"]) for r in rows]) >= len(rows) / 2
    # Lockstep waves: campaign A's accounts start their batches within seconds of each other.
    assert _lockstep(run, "A-reasoning") > 0.5


def _starts(run: Run, group: str) -> list[tuple[float, str]]:
    """When each account starts a burst of calls (after two quiet minutes)."""
    last: dict[str, float] = {}
    starts = []
    for t, account in sorted(
        (datetime.fromisoformat(r["ts"]).timestamp(), r["account_id"]) for r in run.of(group)
    ):
        if t - last.get(account, -1e9) > 120:
            starts.append((t, account))
        last[account] = t
    return starts


def _lockstep(run: Run, group: str) -> float:
    """Share of burst starts that another account starts within ten seconds of."""
    starts = _starts(run, group)
    close = set()
    for (t0, a0), (t1, a1) in itertools.pairwise(starts):
        if a0 != a1 and t1 - t0 < 10:
            close.update({(t0, a0), (t1, a1)})
    return len(close) / len(starts)


def test_evasion_1_gives_every_account_its_own_card_and_rotating_homes(
    make_run: RunMaker,
) -> None:
    plain, evasive = make_run(evasion=0), make_run(evasion=1)
    cards = [r["payment_fingerprint"] for r in _campaign_rows(evasive) if r["payment_fingerprint"]]
    assert cards and len(cards) == len(set(cards))
    assert _shared([_prefix(r["signup_ip"]) for r in _campaign_rows(evasive)]) == 0

    def networks(run: Run) -> tuple[float, set[str]]:
        recs = [
            r
            for r in run.records
            if run.labels[r["account_id"]]["label"] == "attack"
            and r["client"]
            and r["client"]["ip"]
        ]
        return len({_prefix(r["client"]["ip"]) for r in recs}) / len(recs), {
            r["client"]["asn_org"] for r in recs
        }

    spread0, orgs0 = networks(plain)
    spread1, orgs1 = networks(evasive)
    assert spread1 > 10 * spread0
    assert "COMCAST-7922" not in orgs0 and len(orgs1) > len(orgs0)


def test_evasion_2_spreads_volume_thin_and_keeps_human_hours(make_run: RunMaker) -> None:
    machine, human = make_run(evasion=1), make_run(evasion=2)
    count1 = Counter(r["account_id"] for r in machine.of("C-coding"))
    count2 = Counter(r["account_id"] for r in human.of("C-coding"))
    assert len(count2) > 2 * len(count1)
    assert _daily(human, "C-coding") < _daily(machine, "C-coding") / 2

    def night(run: Run) -> float:
        """Share of calls made between midnight and 6 am in the account's declared country."""
        local = [
            (
                datetime.fromisoformat(r["ts"]).hour
                + TZ.get(run.registry[r["account_id"]]["country"], 0)
            )
            % 24
            for r in run.of("C-coding")
            if r["account_id"] in run.registry
        ]
        return sum(h < 6 for h in local) / len(local)

    # Machine traffic runs around the clock; people sleep.
    assert night(machine) > 0.18 and night(human) < night(machine) / 2
    assert _lockstep(human, "A-reasoning") < 0.3 < _lockstep(machine, "A-reasoning")


def test_evasion_3_paraphrases_and_disguises(make_run: RunMaker) -> None:
    fixed, varied = make_run(evasion=2), make_run(evasion=3)

    def openings(run: Run) -> tuple[int, float]:
        texts = []
        for r in run.of("A-reasoning"):
            msgs = r["request"]["messages"]
            content = msgs[-1]["content"]
            texts.append(content if isinstance(content, str) else "")
        fixed_ask = sum("Think step by step" in t or "Reconstruct the complete" in t for t in texts)
        return len({t[:30] for t in texts}), fixed_ask / len(texts)

    _distinct2, explicit2 = openings(fixed)
    _distinct3, explicit3 = openings(varied)
    assert explicit3 < explicit2 / 3
    agents = {r["client"]["user_agent"] for r in varied.of("C-coding") if r["client"]}
    assert len(agents) > len(
        {r["client"]["user_agent"] for r in fixed.of("C-coding") if r["client"]}
    )
    temps = {r["request"].get("temperature") for r in varied.of("A-reasoning")}
    assert len(temps) > 3  # parameters no longer one fixed set


def test_benign_lookalikes_resemble_an_attack_on_one_axis(make_run: RunMaker) -> None:
    run = make_run(scale=0.002, days=4)
    classroom = [
        run.registry[a]
        for a in run.accounts(lambda x: x["population"] == "classroom")
        if a in run.registry
    ]
    assert {r["program"] for r in classroom} == {"education"}
    assert _shared([_prefix(r["signup_ip"]) for r in classroom]) >= len(classroom) / 2
    evals = [r["request"] for r in run.of("eval_runner")]
    assert any("step by step" in orjson.dumps(req).decode() for req in evals)
    bots = [
        r for r in run.of("coding_agent") if r["client"] and r["client"]["asn"] in (8075, 16509)
    ]
    assert bots  # CI agents from cloud runners
    apps = Counter(r["account_id"] for r in run.of("chat_app") if "end_user_id" in r)
    ends = {r["end_user_id"] for r in run.of("chat_app") if "end_user_id" in r}
    assert len(ends) > 10 * len(apps)


def test_volumes_follow_scale_and_days(make_run: RunMaker) -> None:
    small, large = make_run(scale=0.001, days=3), make_run(scale=0.002, days=4)

    def benign(run: Run) -> int:
        # Eval runners are left out: their burst on a new model dominates a short window.
        return sum(
            e
            for name, (_, e) in run.summary.populations.items()
            if name not in ("campaign", "eval_runner")
        )

    # The documented volumes: about 17M such benign exchanges per 14 days at scale 1.
    for run, scale, days in ((small, 0.001, 3), (large, 0.002, 4)):
        assert 0.6 < benign(run) / (17_000_000 * scale * days / 14) < 1.6
    # Campaign C is above its minimum number of accounts: it scales like the benign side,
    # and each account is as busy as at scale 1 (about 13M / 22,500 / 14 a day).
    c_small, c_large = small.summary.campaigns["C-coding"], large.summary.campaigns["C-coding"]
    assert 2.0 < c_large[0] / c_small[0] * 4 / 3 < 3.4
    assert c_large[1] > c_small[1]
    assert 0.6 < _daily(large, "C-coding") / (13_000_000 / 22_500 / 14) < 1.4


def test_progress_counts_the_exchanges(tmp_path: Path) -> None:
    seen: list[int] = []
    summary = simulate(
        tmp_path, scale=0.0005, days=2, seed=3, evasion=0, workers=1, progress=seen.append
    )
    assert seen and seen == sorted(seen) and seen[-1] == summary.exchanges


def test_bad_arguments_are_value_errors(tmp_path: Path) -> None:
    for bad in ({"scale": 0.0}, {"days": 0}, {"evasion": 4}, {"seed": -1}):
        args: dict[str, Any] = {"scale": 0.001, "days": 1, "seed": 1, "evasion": 0, **bad}
        with pytest.raises(ValueError):
            simulate(tmp_path, **args)


def test_outputs_hold_no_path_of_this_machine(make_run: RunMaker) -> None:
    run = make_run()
    summary = (run.out / "summary.json").read_text()
    assert str(run.out) not in summary and "exchanges/2025-03-03.jsonl.gz" in summary
    licences = (corpus.folder() / "LICENSES.md").read_text(encoding="utf-8")
    for repo in (
        "lmarena/arena-hard-auto",
        "ShishirPatil/gorilla",
        "anthropics/hh-rlhf",
        "lm-sys/FastChat",
        "yizhongw/self-instruct",
    ):
        assert repo in licences
    # Attribution names repositories and their paths, never a folder of this machine.
    assert not re.search(r"(?<![\w.:/])/[\w.-]+/", licences)
