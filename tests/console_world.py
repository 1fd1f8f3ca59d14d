"""A console store for tests: a real (tiny) hunt's output, users of every role, and a client
that logs in and posts forms with the page's CSRF token."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from starlette.testclient import TestClient

from distillguard.console import add_user, create_app
from distillguard.exchange import IngestOptions, ingest
from distillguard.exchange.store import Store
from distillguard.hunt import hunt
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

PASSWORD: Final = "correct horse battery"
USERS: Final = {"ada": "admin", "ana": "analyst", "vic": "viewer"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@functools.cache
def _hunt_output() -> Path:
    root = Path(tempfile.mkdtemp(prefix="console-hunt-"))
    atexit.register(shutil.rmtree, root, True)
    simulate(root / "traffic", scale=0.001, days=3, seed=1, evasion=0, workers=1)
    ingest(
        [root / "traffic" / "exchanges"],
        root / "store",
        accounts=root / "traffic" / "accounts.jsonl",
        models=root / "traffic" / "models.jsonl",
        options=IngestOptions(workers=1, annotate=TextSignals()),
    )
    hunt(Store(root / "store"), root / "hunt")
    return root / "hunt"


@functools.cache
def _users_db() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="console-users-"))
    atexit.register(shutil.rmtree, folder, True)
    for name, role in USERS.items():
        add_user(folder, name, PASSWORD, role)
    return folder


# Cached once per test session, whichever test modules import these fixtures.
@pytest.fixture
def hunt_output() -> Path:
    """``accounts.csv`` and ``campaigns.json`` of a hunt over a few days of simulated traffic."""
    return _hunt_output()


@pytest.fixture
def users_db() -> Path:
    """A store folder holding only the users (hashing passwords is slow on purpose: once)."""
    return _users_db()


def make_store(target: Path, hunt: Path, users: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("accounts.csv", "campaigns.json"):
        shutil.copy(hunt / name, target / name)
    shutil.copy(users / "console.sqlite", target / "console.sqlite")
    return target


@pytest.fixture
def store(tmp_path: Path, hunt_output: Path, users_db: Path) -> Path:
    return make_store(tmp_path / "store", hunt_output, users_db)


def make_full_store(target: Path, hunt: Path, users: Path) -> Path:
    """A store folder as ``distillguard hunt`` leaves it when it ingests logs itself: the
    hunt's files, the exchange store in ``store/``, and the simulator's ``labels.csv``."""
    make_store(target, hunt, users)
    shutil.copytree(hunt.parent / "store", target / "store")
    shutil.copy(hunt.parent / "traffic" / "labels.csv", target / "labels.csv")
    return target


@pytest.fixture
def full_store(tmp_path: Path, hunt_output: Path, users_db: Path) -> Path:
    return make_full_store(tmp_path / "store", hunt_output, users_db)


def campaigns(store: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = orjson.loads((store / "campaigns.json").read_bytes())["campaigns"]
    return found


def top_campaign(store: Path) -> str:
    """The id of the campaign with the most accounts (the hunt names its campaigns)."""
    found = max(campaigns(store), key=lambda c: (len(c["accounts"]), c["id"]))
    ident: str = found["id"]
    return ident


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    if found is None:
        raise AssertionError("no CSRF token on the page")
    return found.group(1)


class Browser:
    """A test client with one user's session."""

    def __init__(self, store: Path, **options: Any) -> None:
        self.client = TestClient(create_app(store, **options))

    def login(self, name: str, password: str = PASSWORD) -> Any:
        token = csrf_of(self.client.get("/login").text)
        return self.client.post(
            "/login",
            data={"csrf": token, "name": name, "password": password, "next": "/campaigns"},
            follow_redirects=False,
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], *, page: str = "/campaigns") -> Any:
        """Post ``data`` with the CSRF token shown on ``page``."""
        token = csrf_of(self.client.get(page).text)
        return self.client.post(path, data={"csrf": token, **data}, follow_redirects=False)


def browser(store: Path, name: str) -> Browser:
    b = Browser(store)
    response = b.login(name)
    if response.status_code != 303:
        raise AssertionError(f"log-in as {name} failed: {response.status_code}")
    return b


def write_synthetic(folder: Path, campaigns: int, accounts_each: int = 3) -> Path:
    """A hunt output with ``campaigns`` made-up campaigns (for paging and speed)."""
    folder.mkdir(parents=True, exist_ok=True)
    caps = ("coding", "math", "reasoning", "agentic")
    items, rows = [], ["account_id,risk,verdict,cluster_id,campaign_id,exchanges,reasons"]
    for i in range(campaigns):
        ids = [f"acct-{i}-{j}" for j in range(accounts_each)]
        items.append(
            {
                "id": f"cp-{i:05d}",
                "accounts": ids,
                "clusters": [f"cl-{i}"],
                "exchanges": 100 + i % 977,
                "first_seen": "2025-03-03T00:00:00Z",
                "last_seen": "2025-03-05T00:00:00Z",
                "capabilities": {caps[i % 4]: 0.7, "other": 0.3},
                "reasons": ["INTENT_COT", "SHARED_PAYMENT"],
                "confidence": round((i * 7919 % 1000) / 1000, 3),
                "attribution": None,
                "evidence": [f"{accounts_each} accounts share a payment (#{i:010d})"],
                "timeline": {
                    "bucket": "hour",
                    "points": [[f"2025-03-03T{h:02d}:00:00Z", 5 + h, 2] for h in range(24)],
                },
                "artefacts": [{"kind": "payment", "value": f"#{i:010d}", "accounts": 3}],
            }
        )
        rows += [f"{a},0.9,attack,cl-{i},cp-{i:05d},40,INTENT_COT;SHARED_PAYMENT" for a in ids]
    (folder / "campaigns.json").write_bytes(orjson.dumps({"version": 1, "campaigns": items}))
    (folder / "accounts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
