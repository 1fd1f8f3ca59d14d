"""The hunt report: one self-contained page drawn from accounts.csv and campaigns.json.

The fixture writes a realistic hunt output (three campaigns, a few hundred accounts) the way
the hunt writes it, then the tests read the page back with an HTML parser.
"""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import random
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from distillguard.errors import InputError
from distillguard.exchange import IngestOptions, Store, ingest
from distillguard.hunt import hunt
from distillguard.hunt.reasons import REASONS
from distillguard.hunt.report import (
    MAX_BARS,
    MAX_CAMPAIGN_ACCOUNTS,
    MAX_OTHER_ACCOUNTS,
    render_report,
)
from distillguard.signals import TextSignals
from distillguard.simulate import simulate

WHEN = datetime(2025, 3, 20, 9, 30, tzinfo=UTC)
START = datetime(2025, 3, 3, tzinfo=UTC)
HEADER = ["account_id", "risk", "verdict", "cluster_id", "campaign_id", "exchanges", "reasons"]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _timeline(rng: random.Random, hours: int, active: int, peak: int) -> dict[str, Any]:
    """Hourly points over ``hours`` hours, ``active`` of them with traffic (the hunt writes
    only buckets with traffic)."""
    chosen = sorted(rng.sample(range(hours), active))
    points = [
        [_iso(START + timedelta(hours=h)), rng.randint(peak // 4, peak), rng.randint(3, 40)]
        for h in chosen
    ]
    return {"bucket": "hour", "points": points}


def _account(
    name: str,
    risk: float,
    verdict: str,
    *,
    cluster: str = "",
    campaign: str = "",
    exchanges: int = 10,
    reasons: str = "",
) -> list[str]:
    return [name, f"{risk:.4f}", verdict, cluster, campaign, str(exchanges), reasons]


def sample_hunt(rng: random.Random) -> tuple[list[list[str]], dict[str, Any]]:
    """accounts.csv rows and the campaigns.json document of a small, realistic hunt."""
    rows: list[list[str]] = []
    specs = [
        # id, accounts, cluster, reasons, risk range
        ("campaign-001", 42, "cluster-0003", "SHARED_HARNESS;INTENT_COT;SINGLE_TURN", 0.9),
        ("campaign-002", 25, "cluster-0007", "SHARED_PAYMENT;INTENT_GRADING;LOCKSTEP", 0.8),
        ("campaign-003", 6, "cluster-0011", "SHARED_TEMPLATE;INTENT_REWRITE", 0.6),
    ]
    members: dict[str, list[str]] = {}
    for ident, size, cluster, reasons, low in specs:
        names = [f"acct-{ident[-3:]}-{i:03d}" for i in range(size)]
        members[ident] = names
        for name in names:
            risk = rng.uniform(low, min(low + 0.09, 1.0))
            rows.append(
                _account(
                    name,
                    risk,
                    "attack",
                    cluster=cluster,
                    campaign=ident,
                    exchanges=rng.randint(200, 1500),
                    reasons=reasons,
                )
            )
    for i in range(300):
        rows.append(_account(f"user-{i:04d}", rng.uniform(0.0, 0.2), "benign"))
    for i in range(8):
        rows.append(
            _account(
                f"lone-{i:02d}",
                rng.uniform(0.3, 0.5),
                "suspicious",
                cluster="cluster-0020" if i < 4 else "",
                exchanges=rng.randint(500, 5000),
                reasons="HIGH_VOLUME;TIMING_REGULAR",
            )
        )
    first = {
        "id": "campaign-001",
        "accounts": members["campaign-001"],
        "clusters": ["cluster-0003"],
        "exchanges": 48210,
        "first_seen": "2025-03-03T00:00:00Z",
        "last_seen": "2025-03-07T23:00:00Z",
        "capabilities": {"coding": 0.61, "agentic": 0.27, "reasoning": 0.12},
        "reasons": ["SHARED_HARNESS", "INTENT_COT", "NEW_MODEL_PIVOT", "CAMPAIGN_SIZE"],
        "confidence": 0.91,
        "attribution": {
            "actor": "Harbor Lab",
            "indicator_set": "intel-2025-03.json",
            "matched": [{"kind": "harness", "value": "max_tokens=32000 tools=4 layout=c1"}],
        },
        "evidence": [
            "42 accounts share a harness (max_tokens=32000 tools=4 layout=c1) that 42 "
            "accounts use in all",
            "moved 48% of its traffic to apex-3 within 24 h of its release (first use after 2.5 h)",
        ],
        "timeline": _timeline(rng, 120, 100, 900),
        "artefacts": [
            {
                "kind": "harness",
                "value": "max_tokens=32000 tools=4 layout=c1",
                "accounts": 42,
                "accounts_overall": 42,
                "rarity": 0.6,
            },
            {
                "kind": "payment",
                "value": "#9f3c2a71be",
                "accounts": 12,
                "accounts_overall": 12,
                "rarity": 0.93,
            },
            {
                "kind": "signup_burst",
                "value": "2025-02-27 startup",
                "accounts": 30,
                "accounts_overall": 31,
                "rarity": 0.52,
            },
        ],
        "models": {"apex-3": 0.52, "apex-2": 0.48},
        "release_pivot": {
            "model": "apex-3",
            "released_at": "2025-03-05T12:00:00Z",
            "hours_to_first_use": 2.5,
            "share_within_24h": 0.48,
        },
        "score": {"risk": 0.97, "accounts_attack": 40, "accounts_suspicious": 2},
        "examples": [
            {
                "template": "Fix the failing test in {…}. Think step by step and show every "
                "tool call.",
                "exchanges": 18234,
            },
        ],
    }
    second = {
        "id": "campaign-002",
        "accounts": members["campaign-002"],
        "clusters": ["cluster-0007"],
        "exchanges": 60000,
        "first_seen": "2025-03-03T00:00:00Z",
        "last_seen": "2025-03-14T23:00:00Z",
        "capabilities": {"grading": 0.7, "reasoning": 0.3},
        "reasons": ["SHARED_PAYMENT", "INTENT_GRADING", "LOCKSTEP"],
        "confidence": 0.78,
        "attribution": None,
        "evidence": ["25 accounts share a payment (#77ab01ce42) that 25 accounts use in all"],
        "timeline": _timeline(rng, 288, 200, 400),
        "artefacts": [{"kind": "payment", "value": "#77ab01ce42", "accounts": 25, "rarity": 0.97}],
        "models": {"apex-2": 1.0},
        "release_pivot": None,
        "score": {"risk": 0.88, "accounts_attack": 25},
        "examples": [
            {"template": "Score this answer from 1 to 10 against {…}.", "exchanges": 29000}
        ],
    }
    third = {
        "id": "campaign-003",
        "accounts": members["campaign-003"],
        "clusters": ["cluster-0011"],
        "exchanges": 900,
        "first_seen": "2025-03-04T02:00:00Z",
        "last_seen": "2025-03-04T09:00:00Z",
        "capabilities": {"rewriting": 1.0},
        "reasons": ["SHARED_TEMPLATE", "INTENT_REWRITE"],
        "confidence": 0.55,
        "attribution": None,
        "evidence": [],
        "timeline": {
            "bucket": "hour",
            "points": [[f"2025-03-04T{h:02d}:00:00Z", 100 + h, 6] for h in range(2, 10)],
        },
        "artefacts": [],
        "models": {"apex-2": 1.0},
        "release_pivot": None,
    }
    doc = {
        "version": 1,
        "operating_point": {
            "target_fpr": 0.001,
            "risk_threshold": 0.73,
            "suspicious_threshold": 0.5,
        },
        # The hunt numbers campaigns by size; the report ranks them by confidence x exchanges
        # (campaign-002: 0.78 x 60,000 before campaign-001: 0.91 x 48,210).
        "campaigns": [third, second, first],
    }
    return rows, doc


def write_hunt(out: Path, rows: list[list[str]], doc: Any) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "accounts.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    (out / "campaigns.json").write_bytes(orjson.dumps(doc))
    return out


@dataclass
class Page(HTMLParser):
    """The elements of a page, with the text of its scripts and style sheets."""

    elements: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    _inside: str = ""

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._inside = tag if tag in ("script", "style") else ""

    def handle_endtag(self, tag: str) -> None:
        self._inside = ""

    def handle_data(self, data: str) -> None:
        if self._inside == "script":
            self.scripts.append(data)
        elif self._inside == "style":
            self.styles.append(data)

    @classmethod
    def read(cls, html: str) -> Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


def campaign_sections(html: str) -> dict[str, str]:
    """Each campaign's section of the page, by the (escaped) campaign id."""
    found = re.findall(
        r'<section class="campaign" id="campaign-\d+" data-campaign="([^"]*)">(.*?)</section>',
        html,
        flags=re.DOTALL,
    )
    return dict(found)


def svgs(html: str, cls: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(rf'<svg class="{cls}".*?</svg>', html, re.S)]


@pytest.fixture
def hunt_dir(tmp_path: Path) -> Path:
    rows, doc = sample_hunt(random.Random(7))
    return write_hunt(tmp_path / "hunt", rows, doc)


def render(out: Path, **kwargs: Any) -> str:
    path = render_report(out, generated_at=WHEN, **kwargs)
    assert path == out / "report.html"
    return path.read_text(encoding="utf-8")


def test_page_shows_every_campaign_ranked(hunt_dir: Path) -> None:
    html = render(hunt_dir)
    sections = campaign_sections(html)
    assert list(sections) == ["campaign-002", "campaign-001", "campaign-003"]
    overview = re.findall(r'<a href="#campaign-(\d)">([^<]+)</a>', html)
    assert overview == [("1", "campaign-002"), ("2", "campaign-001"), ("3", "campaign-003")]
    # The header: when, what went in, the operating point.
    assert "Generated 2025-03-20 09:30 UTC" in html
    assert "<b>381</b><span>accounts</span>" in html
    assert "<b>3</b><span>campaigns</span>" in html
    assert "<b>73</b><span>verdict attack</span>" in html
    assert "<b>8</b><span>verdict suspicious</span>" in html
    assert "risk_threshold" in html and "0.73" in html and "0.1%" in html
    first = sections["campaign-001"]
    assert "Harbor Lab" in first and "intel-2025-03.json" in first
    assert "apex-3" in first and "2.5 h" in first
    assert "#9f3c2a71be" in first and "0.930" in first
    assert "Fix the failing test" in first
    assert REASONS["SHARED_HARNESS"].meaning in first
    assert "No known actor" in sections["campaign-002"]


def test_glossary_explains_every_reason_code(hunt_dir: Path) -> None:
    html = render(hunt_dir)
    for code, reason in REASONS.items():
        assert f'<code id="reason-{code}">{code}</code>' in html
        assert escape(reason.meaning) in html
    # Codes in the tables link to the glossary.
    assert 'href="#reason-INTENT_COT"' in html


def test_campaign_accounts_are_its_riskiest(hunt_dir: Path) -> None:
    html = render(hunt_dir)
    first = campaign_sections(html)["campaign-001"]
    with (hunt_dir / "accounts.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["campaign_id"] == "campaign-001"]
    rows.sort(key=lambda r: -float(r["risk"]))
    shown = re.findall(r'<span class="mono">(acct-[^<]+)</span>', first)
    assert shown == [r["account_id"] for r in rows[:MAX_CAMPAIGN_ACCOUNTS]]
    assert f"{42 - MAX_CAMPAIGN_ACCOUNTS} more accounts not shown" in first


def test_other_accounts_exclude_campaign_members(hunt_dir: Path) -> None:
    html = render(hunt_dir)
    other = html[html.index('<section id="other-accounts">') :]
    other = other[: other.index("</section>")]
    names = re.findall(r'<span class="mono">([^<]+)</span>', other)
    assert len(names) == MAX_OTHER_ACCOUNTS
    assert not [n for n in names if n.startswith("acct-")]
    assert set(names[:8]) == {f"lone-{i:02d}" for i in range(8)}
    assert f"{308 - MAX_OTHER_ACCOUNTS} more accounts not shown" in other


def test_page_fetches_nothing(hunt_dir: Path) -> None:
    html = render(hunt_dir)
    assert "http://" not in html and "https://" not in html
    page = Page.read(html)
    for tag, attrs in page.elements:
        for name in ("src", "href", "xlink:href", "action", "srcset", "data", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    assert "link" not in page.tags() and "img" not in page.tags()
    for style in page.styles:
        assert "url(" not in style and "@import" not in style
    # The content security policy forbids any fetch and allows only the page's own script
    # and style sheet: their hashes must match, or sorting and styling are blocked.
    policy = next(
        a["content"] or ""
        for tag, a in page.elements
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in policy
    for text in [*page.scripts, *page.styles]:
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_page_is_complete_without_script(hunt_dir: Path) -> None:
    """The script only sorts and filters: nothing starts hidden, nothing is drawn by it."""
    html = render(hunt_dir)
    page = Page.read(html)
    for _, attrs in page.elements:
        assert "hidden" not in attrs
    (style,) = page.styles
    screen = style[: style.index("@media print")]
    assert "display: none" not in screen and "visibility: hidden" not in screen
    (script,) = page.scripts
    assert "innerHTML" not in script and "fetch" not in script
    assert len(svgs(html, "timeline")) == 3


def test_timeline_draws_one_mark_per_point(hunt_dir: Path) -> None:
    doc = orjson.loads((hunt_dir / "campaigns.json").read_bytes())
    points = {c["id"]: len(c["timeline"]["points"]) for c in doc["campaigns"]}
    assert points["campaign-001"] <= MAX_BARS < points["campaign-002"]
    sections = campaign_sections(render(hunt_dir))
    for ident in ("campaign-001", "campaign-003"):
        (svg,) = svgs(sections[ident], "timeline")
        bars = [e for e in svg.iter("rect") if e.get("class") == "bar"]
        assert len(bars) == points[ident]
    (svg,) = svgs(sections["campaign-002"], "timeline")
    (path,) = [e for e in svg.iter("path") if e.get("class") == "spikes"]
    assert (path.get("d") or "").count("M") == points["campaign-002"]
    # The release pivot is marked where there is one.
    assert [
        e
        for e in svgs(sections["campaign-001"], "timeline")[0].iter("line")
        if e.get("class") == "pivot"
    ]
    assert not [e for e in svg.iter("line") if e.get("class") == "pivot"]


def test_bars_are_placed_by_time(tmp_path: Path) -> None:
    """Quiet hours are gaps: a bar's position follows its time, not its index."""
    rows, doc = sample_hunt(random.Random(1))
    doc["campaigns"][0]["timeline"] = {
        "bucket": "hour",
        "points": [
            ["2025-03-04T00:00:00Z", 10, 1],
            ["2025-03-04T01:00:00Z", 20, 1],
            ["2025-03-04T10:00:00Z", 40, 2],
        ],
    }
    sections = campaign_sections(render(write_hunt(tmp_path, rows, doc)))
    (svg,) = svgs(sections["campaign-003"], "timeline")
    bars = [e for e in svg.iter("rect") if e.get("class") == "bar"]
    x = [float(b.get("x") or 0) for b in bars]
    heights = [float(b.get("height") or 0) for b in bars]
    assert x[0] < x[1] < x[2]
    assert (x[2] - x[1]) == pytest.approx(9 * (x[1] - x[0]), rel=0.01)
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.01)
    assert heights[2] == pytest.approx(2 * heights[1], rel=0.01)


def test_capability_breakdown_has_a_bar_per_capability(hunt_dir: Path) -> None:
    sections = campaign_sections(render(hunt_dir))
    (svg, models) = svgs(sections["campaign-001"], "shares")
    widths = [float(e.get("width") or 0) for e in svg.iter("rect") if e.get("class") == "share"]
    labels = [e.text for e in svg.iter("text") if e.get("class") != "value"]
    assert labels == ["coding", "agentic", "reasoning"]
    assert widths[0] / widths[2] == pytest.approx(0.61 / 0.12, rel=0.02)
    assert [e.text for e in models.iter("text") if e.get("class") != "value"] == [
        "apex-3",
        "apex-2",
    ]


HOSTILE = "<script>alert(1)</script>"


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    rows, doc = sample_hunt(random.Random(3))
    rows[0][0:2] = [HOSTILE, "1.0000"]  # campaign-001's riskiest account
    rows[-1][0] = '"><img src=x onerror=alert(2)>'  # an account outside campaigns
    rows[-1][6] = "HIGH_VOLUME;<b>bold</b>"
    first = doc["campaigns"][2]
    first["accounts"][0] = HOSTILE
    first["id"] = "campaign-<i>001</i>"
    first["evidence"].append('<img src="https://evil.example/pixel.png">')
    first["examples"][0]["template"] = "</pre><script>steal()</script>{…}"
    first["artefacts"][0]["value"] = '"><svg onload=alert(3)>'
    first["attribution"]["actor"] = "<style>body{display:none}</style>"
    first["capabilities"]["<iframe>"] = 0.01
    first["models"]["</title><script>x()</script>"] = 0.01
    first["reasons"].append("<u>NEW</u>")
    first["release_pivot"]["model"] = "<a href='https://evil.example'>m</a>"
    first["timeline"]["bucket"] = "<blink>"
    doc["operating_point"]["<em>x</em>"] = "<em>y</em>"
    html = render(write_hunt(tmp_path, rows, doc), title="<h1>hunt</h1>")
    page = Page.read(html)
    allowed = {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
        "p", "code", "div", "b", "span", "nav", "ul", "li", "a", "main", "section", "table",
        "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "svg", "line", "text", "rect",
        "path", "g", "pre", "i", "footer", "script",
    }  # fmt: skip
    assert page.tags() <= allowed, page.tags() - allowed
    assert [tag for tag, _ in page.elements].count("script") == 1
    assert [tag for tag, _ in page.elements].count("style") == 1
    assert [tag for tag, _ in page.elements].count("h1") == 1
    for tag, attrs in page.elements:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;/pre&gt;&lt;script&gt;steal()&lt;/script&gt;" in html
    assert "&lt;iframe&gt;" in html
    assert "&lt;u&gt;NEW&lt;/u&gt;" in html
    assert "campaign-&lt;i&gt;001&lt;/i&gt;" in html
    assert "&lt;h1&gt;hunt&lt;/h1&gt;" in html
    for chart in re.findall(r"<svg.*?</svg>", html, re.S):
        ET.fromstring(chart)  # well-formed, even with hostile labels


def test_missing_and_malformed_extras_are_notes(tmp_path: Path) -> None:
    rows, doc = sample_hunt(random.Random(5))
    contract = {
        k: v
        for k, v in doc["campaigns"][0].items()
        if k
        in (
            "id", "accounts", "clusters", "exchanges", "first_seen", "last_seen",
            "capabilities", "reasons", "confidence", "attribution", "evidence",
        )
    }  # fmt: skip
    broken = copy.deepcopy(doc["campaigns"][1])
    broken.update(
        timeline={"bucket": "hour", "points": "lots"},
        artefacts=5,
        models=["apex-2"],
        release_pivot="soon",
        score=[1],
        examples={"template": "x"},
        capabilities={"grading": "most", "reasoning": 0.3},
        attribution="someone",
        evidence="a string",
        confidence="high",
        exchanges=-4,
        reasons=None,
    )
    bare = {"id": "campaign-bare"}
    nameless: dict[str, Any] = {"exchanges": 3}
    doc["campaigns"] = [contract, broken, bare, nameless]
    del doc["operating_point"]
    html = render(write_hunt(tmp_path, rows, doc))
    sections = campaign_sections(html)
    assert {"campaign-003", "campaign-002", "campaign-bare"} <= set(sections)
    assert len(sections) == 4
    assert "campaigns.json has no timeline" in sections["campaign-003"]
    assert "The timeline could not be read" in sections["campaign-002"]
    assert "The artefacts could not be read" in sections["campaign-002"]
    assert "The model could not be read" in sections["campaign-002"]
    assert "The release pivot could not be read" in sections["campaign-002"]
    assert "1 capability entries are not shares" in sections["campaign-002"]
    assert "The attribution could not be read" in sections["campaign-002"]
    assert "confidence is missing or not a number" in sections["campaign-002"]
    assert "exchange count is missing or not a count" in sections["campaign-002"]
    assert "has no id" in html
    assert "does not record the operating point" in html
    # A bad point is skipped, the others drawn.
    doc["campaigns"] = [sample_hunt(random.Random(5))[1]["campaigns"][0]]  # 8 points
    doc["campaigns"][0]["timeline"]["points"][1:3] = [["not a time", 5], [None]]
    html = render(write_hunt(tmp_path, rows, doc))
    (svg,) = svgs(html, "timeline")
    assert len([e for e in svg.iter("rect") if e.get("class") == "bar"]) == 6
    assert "2 timeline points could not be read" in html


def test_empty_hunt_says_so(tmp_path: Path) -> None:
    rows = [_account(f"user-{i}", 0.01 * i, "benign") for i in range(5)]
    rows.append(_account("stray", 0.9, "attack", campaign="campaign-404"))
    html = render(write_hunt(tmp_path, rows, {"version": 1, "campaigns": []}))
    assert "No campaigns were found in this hunt." in html
    assert "1 accounts in accounts.csv name a campaign campaigns.json lacks" in html
    assert not campaign_sections(html)
    assert "user-4" in html  # the accounts outside campaigns are still listed
    nothing = render(write_hunt(tmp_path, [], {"version": 1, "campaigns": []}))
    assert "No accounts outside campaigns." in nothing


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"version": 1}',
        b'{"version": 1, "campaigns": {}}',
        b'{"version": 1, "campaigns": [1]}',
    ],
)
def test_malformed_campaigns_json_raises(tmp_path: Path, content: bytes) -> None:
    rows, _ = sample_hunt(random.Random(1))
    write_hunt(tmp_path, rows, {"version": 1, "campaigns": []})
    (tmp_path / "campaigns.json").write_bytes(content)
    with pytest.raises(InputError, match=r"campaigns\.json"):
        render_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("", r"accounts\.csv: empty"),
        ("account_id,risk\nx,0.5\n", r"accounts\.csv: missing column"),
        (",".join(HEADER) + "\na,0.5,benign,,,3,\nb,high,benign,,,3,\n", r"accounts\.csv:3"),
        (",".join(HEADER) + "\na,1.5,benign,,,3,\n", r"accounts\.csv:2"),
        (",".join(HEADER) + "\na,0.5,benign,,,many,\n", r"accounts\.csv:2"),
        (",".join(HEADER) + "\na,0.5,benign\n", r"accounts\.csv:2"),
    ],
)
def test_malformed_accounts_csv_raises(tmp_path: Path, content: str, where: str) -> None:
    write_hunt(tmp_path, [], {"version": 1, "campaigns": []})
    (tmp_path / "accounts.csv").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=where):
        render_report(tmp_path)


def test_missing_inputs_raise(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"accounts\.csv"):
        render_report(tmp_path)
    write_hunt(tmp_path, [], {"version": 1, "campaigns": []})
    (tmp_path / "campaigns.json").unlink()
    with pytest.raises(InputError, match=r"campaigns\.json"):
        render_report(tmp_path)


def test_same_input_same_page(hunt_dir: Path) -> None:
    assert render(hunt_dir) == render(hunt_dir)


def large_hunt(rng: random.Random, accounts: int, campaigns: int) -> tuple[list[list[str]], Any]:
    _, sample = sample_hunt(rng)
    template = sample["campaigns"][2]
    rows: list[list[str]] = []
    items = []
    per = accounts // (2 * campaigns)
    for k in range(campaigns):
        ident = f"campaign-{k + 1:03d}"
        names = [f"acct-{k:03d}-{i:03d}" for i in range(per)]
        rows += [
            _account(n, rng.uniform(0.6, 1.0), "attack", cluster=f"cluster-{k:04d}",
                     campaign=ident, exchanges=rng.randint(100, 900),
                     reasons="SHARED_HARNESS;INTENT_COT;SINGLE_TURN;TIMING_REGULAR")
            for n in names
        ]  # fmt: skip
        item = copy.deepcopy(template)
        item.update(
            id=ident,
            accounts=names,
            exchanges=rng.randint(1000, 90000),
            confidence=rng.random(),
            timeline=_timeline(rng, 336, rng.choice([90, 300]), 500),
            artefacts=template["artefacts"] * 4,
        )
        items.append(item)
    rows += [
        _account(f"user-{i:05d}", rng.random() * 0.4, "benign", exchanges=rng.randint(1, 99))
        for i in range(accounts - len(rows))
    ]
    return rows, {**sample, "campaigns": items}


def test_large_hunt_renders_in_linear_time_and_small(tmp_path: Path) -> None:
    """Four times the campaigns take well under sixteen times as long (a page that compared
    campaigns or accounts pairwise would); a ratio, so a loaded machine does not fail it."""

    def fastest(campaigns: int) -> tuple[float, str]:
        folder = tmp_path / str(campaigns)
        folder.mkdir()
        rows, doc = large_hunt(random.Random(11), 10_000, campaigns)
        write_hunt(folder, rows, doc)
        runs = []
        for _ in range(2):
            began = time.perf_counter()
            html = render(folder)
            runs.append(time.perf_counter() - began)
        return min(runs), html

    small, _ = fastest(50)
    large, html = fastest(200)
    assert len(campaign_sections(html)) == 200
    assert large / small < 8.0, f"{small:.2f} s for 50 campaigns, {large:.2f} s for 200"
    assert len(html.encode()) < 5_000_000, len(html.encode())


def test_renders_what_a_real_hunt_writes(tmp_path: Path) -> None:
    """Simulated traffic through ingest and hunt: the page shows every campaign the hunt
    wrote, each timeline with one mark per point."""
    traffic = tmp_path / "traffic"
    simulate(traffic, scale=0.001, days=3, seed=2, evasion=0, workers=1)
    ingest(
        [traffic / "exchanges"],
        tmp_path / "store",
        accounts=traffic / "accounts.jsonl",
        models=traffic / "models.jsonl",
        options=IngestOptions(workers=1, annotate=TextSignals()),
    )
    out = tmp_path / "hunt"
    result = hunt(Store(tmp_path / "store"), out)
    assert result.campaigns > 0
    html = render(out)
    doc = orjson.loads((out / "campaigns.json").read_bytes())
    sections = campaign_sections(html)
    assert set(sections) == {escape(c["id"]) for c in doc["campaigns"]}
    for campaign in doc["campaigns"]:
        (svg,) = svgs(sections[escape(campaign["id"])], "timeline")
        bars = [e for e in svg.iter("rect") if e.get("class") == "bar"]
        spikes = "".join(e.get("d") or "" for e in svg.iter("path")).count("M")
        assert len(bars) + spikes == len(campaign["timeline"]["points"])
        assert "could not be read" not in sections[escape(campaign["id"])]
    assert f"<b>{result.accounts:,}</b><span>accounts</span>" in html
    assert "http://" not in html and "https://" not in html
