"""The hunt report: one self-contained HTML page for a trust-and-safety analyst.

    from distillguard.hunt.report import render_report
    render_report(Path("hunt"))  # reads accounts.csv and campaigns.json, writes report.html

The page is drawn only from the two files the hunt wrote (contract section 4), so it shows
exactly what they say. It opens offline: the style sheet, the plots (SVG drawn here) and a
small script that sorts and filters tables are inline, and the page's content security
policy forbids every network request. Without the script only sorting and filtering are lost.

Every value read from the input files is HTML-escaped: account ids, evidence and template
examples come from the traffic, and an attacker writes them.

``campaigns.json`` carries the contract's keys and optional extras (timeline, artefacts,
models, release pivot, score, examples). A missing or malformed value is shown as a note in
its place; only a file that cannot be read at all raises ``InputError``.

Large hunts are capped so the page stays small (each cap says how many rows it left out):
``MAX_CAMPAIGNS`` campaigns are shown, each with its ``MAX_CAMPAIGN_ACCOUNTS`` riskiest
accounts, ``MAX_ARTEFACTS`` artefacts, ``MAX_EVIDENCE`` evidence lines, ``MAX_MODELS`` models
and ``MAX_EXAMPLES`` template examples; ``MAX_OTHER_ACCOUNTS`` accounts outside campaigns.
A timeline of up to ``MAX_BARS`` points is drawn as bars with a tooltip each, a longer one
as one compact path with a spike per point.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import heapq
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any, Final

import orjson

from ..errors import InputError, Location
from ..types import ACCOUNTS_CSV_COLUMNS, CAPABILITIES, VERDICTS
from .reasons import REASONS, meaning

MAX_CAMPAIGNS: Final = 250
MAX_CAMPAIGN_ACCOUNTS: Final = 20
MAX_OTHER_ACCOUNTS: Final = 50
MAX_ARTEFACTS: Final = 20
MAX_EVIDENCE: Final = 20
MAX_MODELS: Final = 12
MAX_EXAMPLES: Final = 5
MAX_MATCHED: Final = 20
MAX_ACCOUNT_REASONS: Final = 8
MAX_BARS: Final = 120
MAX_TEXT: Final = 400
"""Longest string shown from the input (longer ones are cut, with an ellipsis)."""
MAX_EXAMPLE_TEXT: Final = 1200

BUCKETS: Final[Mapping[str, int]] = {"hour": 3600, "day": 86400}
TICKS: Final = tuple(
    hours * 3600 for hours in (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 4380, 8760)
)
"""Time between labelled ticks of a timeline: the shortest that labels at most six."""
OPERATING_POINT: Final[Mapping[str, str]] = {
    "target_fpr": "target false-positive rate",
    "estimated_fpr": "customers flagged at this threshold, estimated on this traffic",
    "risk_threshold": "attack from risk",
    "suspicious_threshold": "suspicious from risk",
    "attack_score": "attack from cluster score",
    "suspicious_score": "suspicious from cluster score",
}
SCOPES: Final[Mapping[str, str]] = {
    "account": "the account's own traffic",
    "link": "its ties to other accounts",
    "campaign": "the campaign as a whole",
}


@dataclass(frozen=True, slots=True)
class _Account:
    """One row of ``accounts.csv``."""

    id: str
    risk: float
    verdict: str
    cluster: str
    campaign: str
    exchanges: int
    reasons: tuple[str, ...]


def render_report(
    out_dir: Path,
    *,
    title: str = "distillguard hunt report",
    generated_at: datetime | None = None,
) -> Path:
    """Write ``out_dir/report.html`` from the hunt's ``accounts.csv`` and ``campaigns.json``.

    ``generated_at`` is the time the header shows (now, by default). Raises ``InputError``
    when either file cannot be read."""
    accounts = _read_accounts(out_dir / "accounts.csv")
    doc = read_campaigns(out_dir / "campaigns.json")
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    page = _page(title, when, accounts, doc)
    path = out_dir / "report.html"
    partial = out_dir / "report.html.partial"
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return path


# --- reading -------------------------------------------------------------------------------


def _read_accounts(path: Path) -> list[_Account]:
    """The rows of ``accounts.csv``; a missing column or a bad row raises ``InputError``."""
    rows: list[_Account] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file, expected a header row")
            missing = [name for name in ACCOUNTS_CSV_COLUMNS if name not in header]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
            at = [header.index(name) for name in ACCOUNTS_CSV_COLUMNS]
            for row in reader:
                if not row:
                    continue
                where = Location(str(path), reader.line_num)
                if len(row) != len(header):
                    raise InputError(f"{where}: {len(row)} fields, the header has {len(header)}")
                rows.append(_account([row[i] for i in at], where))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV: {exc}") from None
    return rows


def _account(cells: list[str], where: Location) -> _Account:
    account_id, risk_text, verdict, cluster, campaign, volume, reasons = cells
    try:
        risk = float(risk_text)
    except ValueError:
        risk = math.nan
    if not 0.0 <= risk <= 1.0:
        raise InputError(f"{where}: risk {risk_text!r} is not a number in [0, 1]")
    try:
        exchanges = int(volume)
    except ValueError:
        exchanges = -1
    if exchanges < 0:
        raise InputError(f"{where}: exchanges {volume!r} is not a count")
    codes = tuple(code.strip() for code in reasons.split(";") if code.strip())
    return _Account(account_id, risk, verdict, cluster, campaign, exchanges, codes)


def read_campaigns(path: Path) -> dict[str, Any]:
    """The document of ``campaigns.json``: an object with a ``campaigns`` list of objects
    (``InputError`` naming the file and the campaign otherwise)."""
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("campaigns"), list):
        raise InputError(f"{path}: expected an object with a 'campaigns' list")
    for number, item in enumerate(doc["campaigns"]):
        if not isinstance(item, dict):
            raise InputError(f"{path}: campaigns[{number}] is not an object")
    return doc


# --- small helpers -------------------------------------------------------------------------


def _e(value: object, limit: int = MAX_TEXT) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text, quote=True)


def _number(value: Any, low: float = -math.inf, high: float = math.inf) -> float | None:
    """``value`` as a finite number in [low, high], or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def _count(value: Any) -> int | None:
    number = _number(value, 0.0)
    return int(number) if number is not None and number == int(number) else None


def _time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 string (UTC when it has no offset)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _utc(epoch: float, pattern: str = "%Y-%m-%d %H:%M UTC") -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(pattern)


def _when(epoch: float | None) -> str:
    return "—" if epoch is None else f'<span class="when">{_utc(epoch)}</span>'


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _share(value: float | None) -> str:
    if value is None:
        return "—"
    return "&lt;0.1%" if 0 < value < 0.0005 else f"{value:.1%}"


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _more(hidden: int, what: str, where: str) -> str:
    if hidden <= 0:
        return ""
    return f'<p class="more">{hidden:,} more {what} not shown (see {where}).</p>'


def _code(code: str) -> str:
    if code in REASONS:
        return f'<a href="#reason-{code}">{code}</a>'
    return f'<code title="unknown reason code">{_e(code)}</code>'


def _verdict(verdict: str) -> str:
    cls = verdict if verdict in VERDICTS else "other"
    return f'<span class="verdict {cls}">{_e(verdict)}</span>'


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    filterable: bool = False,
) -> str:
    """A sortable table; header texts are trusted, cells are HTML the caller escaped."""
    num = set(numeric)
    head = "".join(
        f'<th class="num">{h}</th>' if i in num else f"<th>{h}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in num else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    cls = "sortable filterable" if filterable else "sortable"
    return (
        f'<div class="table"><table class="{cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


# --- plots ---------------------------------------------------------------------------------


def _nice(peak: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at least ``peak``: the top of a y axis."""
    if peak <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(peak))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= peak)


def _timeline_svg(timeline: Any, pivot: Any) -> str:
    """Exchanges per bucket over time, placed by time (quiet buckets are gaps), with the
    release of the model the campaign moved to as a dashed line."""
    if timeline is None:
        return _note("campaigns.json has no timeline for this campaign.")
    if not isinstance(timeline, Mapping) or not isinstance(timeline.get("points"), list):
        return _note("The timeline could not be read: expected an object with a points list.")
    notes: list[str] = []
    points: list[tuple[float, float, int | None]] = []
    for point in timeline["points"]:
        ok = isinstance(point, list | tuple) and len(point) >= 2
        at = _time(point[0]) if ok else None
        volume = _number(point[1], 0.0) if ok else None
        if at is None or volume is None:
            continue
        points.append((at, volume, _count(point[2]) if len(point) > 2 else None))
    if len(points) < len(timeline["points"]):
        notes.append(
            f"{len(timeline['points']) - len(points):,} timeline points could not be read."
        )
    if not points:
        return "".join(_note(n) for n in [*notes, "The timeline has no points to draw."])
    points.sort(key=lambda p: p[0])
    step = BUCKETS.get(str(timeline.get("bucket")))
    if step is None:
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0]]
        step = max(1, int(min(gaps))) if gaps else 3600
        notes.append(f"Unknown bucket {_e(timeline.get('bucket'))}: drawn per {step:,} s.")
    unit = {3600: "hour", 86400: "day"}.get(step, f"{step:,} s")

    width, height, left, right, top, bottom = 1000, 200, 56, 16, 16, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    start, end = points[0][0], points[-1][0]
    buckets = round((end - start) / step) + 1
    slot = plot_w / buckets
    peak = _nice(max(p[1] for p in points))
    base = top + plot_h

    def x(at: float) -> float:
        return left + (at - start) / step * slot

    def y(volume: float) -> float:
        return base - volume / peak * plot_h

    parts = [
        f'<svg class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="exchanges per {unit} over time">'
    ]
    for level in (0.0, peak / 2, peak):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(level):.1f}" '
            f'y2="{y(level):.1f}"/><text x="{left - 6}" y="{y(level) + 4:.1f}" '
            f'text-anchor="end">{level:,.0f}</text>'
        )
    every = next((t for t in TICKS if t >= step and end - start <= 5 * t), end - start + step)
    pattern = "%Y-%m-%d" if every >= 86400 else "%m-%d %H:%M"
    at = math.ceil(start / every) * every
    at = at if at <= end else start
    while at <= end:
        tx = x(at) + slot / 2
        anchor = "start" if tx < left + 30 else "end" if tx > width - right - 30 else "middle"
        parts.append(
            f'<line class="axis" x1="{tx:.1f}" x2="{tx:.1f}" y1="{base}" y2="{base + 4}"/>'
            f'<text x="{tx:.1f}" y="{base + 17}" text-anchor="{anchor}">'
            f"{_utc(at, pattern)}</text>"
        )
        at += every
    if len(points) <= MAX_BARS:
        bar = max(slot * 0.8, 0.8)
        for at, volume, active in points:
            tip = f"{_utc(at, '%Y-%m-%d %H:%M')}: {volume:,.0f} exchanges"
            tip += "" if active is None else f", {active:,} accounts"
            top_y = min(y(volume), base - 0.5) if volume > 0 else base
            parts.append(
                f'<rect class="bar" x="{x(at) + (slot - bar) / 2:.1f}" y="{top_y:.1f}" '
                f'width="{bar:.1f}" height="{base - top_y:.1f}"><title>{tip}</title></rect>'
            )
    else:
        stroke = min(max(slot * 0.8, 1.0), 6.0)
        path = "".join(
            f"M{x(at) + slot / 2:.1f} {base}V{min(y(volume), base - 0.5):.1f}"
            for at, volume, _ in points
        )
        parts.append(f'<path class="spikes" stroke-width="{stroke:.1f}" d="{path}"/>')
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/>')
    caption = (
        f"Exchanges per {unit} (UTC), {len(points):,} active of {buckets:,} {unit}s from "
        f"{_utc(start)} to {_utc(end)}; peak {max(p[1] for p in points):,.0f}."
    )
    released = _time(pivot.get("released_at")) if isinstance(pivot, Mapping) else None
    if released is not None and start - step <= released <= end + step:
        px = min(max(x(released), left), width - right)
        anchor = "start" if px < left + plot_w / 2 else "end"
        shift = 4 if anchor == "start" else -4
        model = _e(pivot.get("model") or "new model", 60)
        parts.append(
            f'<line class="pivot" x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{base}"/>'
            f'<text class="pivot-label" x="{px + shift:.1f}" y="{top + 10}" '
            f'text-anchor="{anchor}">{model} released</text>'
        )
        caption += " Dashed line: release of the model the campaign moved to."
    elif released is not None:
        caption += f" The model it moved to was released at {_utc(released)}, off this chart."
    parts.append("</svg>")
    return "".join(parts) + f'<p class="caption">{caption}</p>' + "".join(map(_note, notes))


def _shares_svg(shares: Any, *, what: str, known: Sequence[str] = (), limit: int = 20) -> str:
    """Horizontal bars of shares (0 to 1), largest first; names outside ``known`` (when
    given) are starred."""
    if shares is None:
        return _note(f"campaigns.json gives no {what} for this campaign.")
    if not isinstance(shares, Mapping):
        return _note(f"The {what} could not be read: expected an object of shares.")
    read = ((str(k), _number(v, 0.0, 1.0001)) for k, v in shares.items())
    good = [(k, v) for k, v in read if v is not None]
    notes = []
    if len(good) < len(shares):
        notes.append(f"{len(shares) - len(good):,} {what} entries are not shares in [0, 1].")
    if not good:
        return "".join(_note(n) for n in [*notes, f"No {what} to show."])
    good.sort(key=lambda kv: (-kv[1], kv[0]))
    shown, hidden = good[:limit], len(good) - limit
    row, label_w, bar_w = 22, 140, 240
    width, height = label_w + bar_w + 56, row * len(shown) + 4
    parts = [
        f'<svg class="shares" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(what)}: share of exchanges">'
    ]
    starred = False
    for i, (name, share) in enumerate(shown):
        mark = "" if not known or name in known else " *"
        starred = starred or bool(mark)
        y0 = 2 + i * row
        length = max(min(share, 1.0) * bar_w, 0.5 if share > 0 else 0.0)
        parts.append(
            f"<g><title>{_e(name)}{mark}: {_share(share)}</title>"
            f'<text x="{label_w - 6}" y="{y0 + 15}" text-anchor="end">{_e(name, 22)}{mark}</text>'
            f'<rect class="track" x="{label_w}" y="{y0 + 3}" width="{bar_w}" height="{row - 6}"/>'
            f'<rect class="share" x="{label_w}" y="{y0 + 3}" width="{length:.1f}" '
            f'height="{row - 6}"/><text class="value" x="{label_w + bar_w + 6}" y="{y0 + 15}">'
            f"{_share(share)}</text></g>"
        )
    parts.append("</svg>")
    if starred:
        notes.append(f"* not in the contract's {what} vocabulary.")
    if hidden > 0:
        notes.append(f"{hidden:,} smaller {what} entries not shown.")
    return "".join(parts) + "".join(map(_note, notes))


# --- a campaign ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Campaign:
    """The contract's keys of one campaign, checked; ``raw`` keeps the extras."""

    rank: int
    id: str
    accounts: list[str]
    exchanges: int | None
    confidence: float | None
    first_seen: float | None  # seconds since the epoch
    last_seen: float | None
    notes: list[str]
    raw: Mapping[str, Any]

    @property
    def weight(self) -> float:
        return (self.confidence or 0.0) * (self.exchanges or 0)


def _campaign(number: int, raw: Mapping[str, Any]) -> _Campaign:
    notes = []
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident:
        notes.append("This campaign has no id.")
        ident = f"(campaign {number + 1} in campaigns.json, no id)"
    accounts = raw.get("accounts")
    if not isinstance(accounts, list):
        notes.append("Its account list could not be read.")
        accounts = []
    exchanges = _count(raw.get("exchanges"))
    confidence = _number(raw.get("confidence"), 0.0, 1.0)
    if exchanges is None:
        notes.append("Its exchange count is missing or not a count.")
    if confidence is None:
        notes.append("Its confidence is missing or not a number in [0, 1].")
    first, last = _time(raw.get("first_seen")), _time(raw.get("last_seen"))
    for key, value in (("first_seen", first), ("last_seen", last)):
        if value is None:
            notes.append(f"Its {key} is missing or not an RFC 3339 time.")
    return _Campaign(
        rank=0,
        id=ident,
        accounts=[str(a) for a in accounts],
        exchanges=exchanges,
        confidence=confidence,
        first_seen=first,
        last_seen=last,
        notes=notes,
        raw=raw,
    )


def _reasons_list(codes: Any) -> str:
    if not isinstance(codes, list) or not codes:
        return _note("No reason codes recorded.")
    items = "".join(
        f"<li>{_code(str(c))}: {_e(meaning(str(c)))}</li>" for c in codes[:MAX_EVIDENCE]
    )
    more = _more(len(codes) - MAX_EVIDENCE, "reason codes", "campaigns.json")
    return f'<ul class="reasons">{items}</ul>{more}'


def _account_rows(rows: Iterable[_Account], *, cluster: bool = False) -> list[list[str]]:
    out = []
    for a in rows:
        codes = " ".join(_code(c) for c in a.reasons[:MAX_ACCOUNT_REASONS]) or "—"
        if len(a.reasons) > MAX_ACCOUNT_REASONS:
            codes += f" +{len(a.reasons) - MAX_ACCOUNT_REASONS:,}"
        cells = [f'<span class="mono">{_e(a.id)}</span>', _score(a.risk), _verdict(a.verdict)]
        if cluster:
            cells.append(_e(a.cluster) or "—")
        out.extend([[*cells, _int(a.exchanges), codes]])
    return out


def _artefacts(value: Any) -> str:
    if value is None:
        return _note("campaigns.json lists no shared artefacts for this campaign.")
    if not isinstance(value, list):
        return _note("The artefacts could not be read: expected a list.")
    good = [a for a in value if isinstance(a, Mapping)]
    overall = any("accounts_overall" in a for a in good)
    rows = []
    for a in good[:MAX_ARTEFACTS]:
        row = [
            _e(str(a.get("kind", "—")).replace("_", " ")),
            f'<span class="mono">{_e(a.get("value", "—"))}</span>',
            _int(_count(a.get("accounts"))),
        ]
        if overall:
            row.append(_int(_count(a.get("accounts_overall"))))
        rows.append([*row, _score(_number(a.get("rarity"), 0.0, 1.0))])
    if not rows:
        return _note("No shared artefacts.")
    headers = ["kind", "value (redacted)", "accounts sharing it"]
    headers += ["accounts using it in all"] if overall else []
    numeric = list(range(2, len(headers) + 1))
    bad = len(value) - len(good)
    return (
        _table([*headers, "rarity"], rows, numeric=numeric)
        + _more(len(good) - MAX_ARTEFACTS, "artefacts", "campaigns.json")
        + (_note(f"{bad:,} artefact entries could not be read.") if bad else "")
    )


def _evidence(value: Any) -> str:
    if not isinstance(value, list):
        return _note("The evidence list could not be read.")
    if not value:
        return _note("No evidence lines recorded.")
    items = "".join(f"<li>{_e(line)}</li>" for line in value[:MAX_EVIDENCE])
    return f'<ul class="evidence">{items}</ul>' + _more(
        len(value) - MAX_EVIDENCE, "evidence lines", "campaigns.json"
    )


def _attribution(value: Any) -> str:
    if value is None:
        return "<p>No known actor's indicators matched.</p>"
    if not isinstance(value, Mapping):
        return _note("The attribution could not be read.")
    actor = _e(value.get("actor") or "unnamed actor")
    source = value.get("indicator_set")
    text = f"<p>Matches <b>{actor}</b>" + (f" from <i>{_e(source)}</i>" if source else "")
    matched = value.get("matched")
    if not isinstance(matched, list) or not matched:
        return text + ".</p>"
    items = "".join(
        f"<li>{_e(str(m.get('kind', '?')).replace('_', ' '))}: "
        f'<span class="mono">{_e(m.get("value", "?"))}</span></li>'
        if isinstance(m, Mapping)
        else f"<li>{_e(m)}</li>"
        for m in matched[:MAX_MATCHED]
    )
    return (
        text
        + f' on {len(matched):,} indicator(s):</p><ul class="evidence">{items}</ul>'
        + _more(len(matched) - MAX_MATCHED, "matched indicators", "campaigns.json")
    )


def _pivot(value: Any) -> str:
    if value is None:
        return "<p>No move to a newly released model.</p>"
    if not isinstance(value, Mapping):
        return _note("The release pivot could not be read.")
    hours = _number(value.get("hours_to_first_use"))
    share = _number(value.get("share_within_24h"), 0.0, 1.0)
    released = value.get("released_at")
    return (
        f"<p>Moved to <b>{_e(value.get('model', 'a new model'))}</b> "
        f"(released {_e(released) if isinstance(released, str) else 'at an unknown time'}): "
        f"first used after {'—' if hours is None else f'{hours:,.1f}'} h; "
        f"{_share(share)} of its traffic in the first 24 h went to it.</p>"
    )


def _examples(value: Any) -> str:
    if not isinstance(value, list):
        return _note("The template examples could not be read.")
    blocks = []
    for item in value[:MAX_EXAMPLES]:
        if isinstance(item, Mapping):
            volume = _count(item.get("exchanges"))
            blocks.append(
                f'<p class="caption">{_int(volume)} exchanges</p>'
                f'<pre class="template">{_e(item.get("template", ""), MAX_EXAMPLE_TEXT)}</pre>'
            )
    if not blocks:
        return _note("No template examples could be read.")
    return "".join(blocks) + _more(len(value) - MAX_EXAMPLES, "examples", "campaigns.json")


def _facts(c: _Campaign) -> str:
    raw = c.raw
    clusters = raw.get("clusters")
    score = raw.get("score") if isinstance(raw.get("score"), Mapping) else {}
    facts = [
        ("accounts", _int(len(c.accounts))),
        ("clusters", _int(len(clusters)) if isinstance(clusters, list) else "—"),
        ("exchanges", _int(c.exchanges)),
        ("confidence", _score(c.confidence)),
        ("first seen", _when(c.first_seen)),
        ("last seen", _when(c.last_seen)),
    ]
    if score:
        facts += [
            ("cluster risk", _score(_number(score.get("risk"), 0.0, 1.0))),
            ("accounts: attack", _int(_count(score.get("accounts_attack")))),
        ]
        if "accounts_suspicious" in score:
            facts.append(("accounts: suspicious", _int(_count(score["accounts_suspicious"]))))
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _campaign_section(c: _Campaign, members: list[_Account], absent: int) -> str:
    raw = c.raw
    top = heapq.nlargest(MAX_CAMPAIGN_ACCOUNTS, members, key=lambda a: (a.risk, a.exchanges))
    parts = [
        f'<section class="campaign" id="campaign-{c.rank}" data-campaign="{_e(c.id)}">',
        f'<h3><span class="rank">#{c.rank}</span> {_e(c.id)}</h3>',
        "".join(_note(_e(n)) for n in c.notes),
        _facts(c),
        "<h4>Attribution</h4>",
        _attribution(raw["attribution"]) if "attribution" in raw else _note("No attribution."),
        "<h4>Why</h4>",
        _reasons_list(raw.get("reasons")),
        "<h4>Timeline</h4>",
        _timeline_svg(raw.get("timeline"), raw.get("release_pivot")),
    ]
    if "release_pivot" in raw:
        parts.append(_pivot(raw["release_pivot"]))
    parts += [
        '<div class="grid2"><div><h4>Capabilities</h4>',
        _shares_svg(raw.get("capabilities"), what="capability", known=CAPABILITIES),
        "</div><div><h4>Models used</h4>",
        _shares_svg(raw.get("models"), what="model", limit=MAX_MODELS)
        if "models" in raw
        else _note("campaigns.json lists no models for this campaign."),
        "</div></div>",
        "<h4>Linked artefacts</h4>",
        _artefacts(raw.get("artefacts")),
        "<h4>Evidence</h4>",
        _evidence(raw.get("evidence")),
    ]
    if "examples" in raw:
        parts += ["<h4>Template examples</h4>", _examples(raw["examples"])]
    parts.append("<h4>Riskiest accounts</h4>")
    if top:
        parts.append(
            _table(
                ["account", "risk", "verdict", "exchanges", "reasons"],
                _account_rows(top),
                numeric=[1, 3],
            )
        )
        parts.append(_more(len(members) - len(top), "accounts", "accounts.csv"))
    else:
        parts.append(_note("None of its accounts is in accounts.csv."))
    if absent and top:
        parts.append(_note(f"{absent:,} of its accounts are not in accounts.csv."))
    parts.append("</section>")
    return "".join(parts)


# --- the page ------------------------------------------------------------------------------


def _overview(campaigns: Sequence[_Campaign]) -> str:
    rows = []
    for c in campaigns:
        caps = c.raw.get("capabilities")
        main = "—"
        if isinstance(caps, Mapping):
            shares = [(v, str(k)) for k, v in caps.items() if _number(v, 0.0, 1.0001) is not None]
            main = f"{_e(max(shares)[1], 40)} {max(shares)[0]:.0%}" if shares else "—"
        attribution = c.raw.get("attribution")
        actor = attribution.get("actor") if isinstance(attribution, Mapping) else None
        rows.append(
            [
                str(c.rank),
                f'<a href="#campaign-{c.rank}">{_e(c.id)}</a>',
                _int(len(c.accounts)),
                _int(c.exchanges),
                _score(c.confidence),
                _when(c.first_seen),
                _when(c.last_seen),
                main,
                _e(actor) if actor else "—",
            ]
        )
    headers = ["rank", "campaign", "accounts", "exchanges", "confidence", "first seen"]
    headers += ["last seen", "main capability", "attributed to"]
    return _table(headers, rows, numeric=[0, 2, 3, 4])


def _operating_point(value: Any) -> str:
    if value is None:
        return _note("campaigns.json does not record the operating point.")
    if not isinstance(value, Mapping) or not value:
        return _note("The operating point in campaigns.json could not be read.")
    rows = []
    for key, setting in value.items():
        number = _number(setting)
        shown = _e(setting) if number is None else f"{number:g}"
        if key in ("target_fpr", "estimated_fpr") and number is not None:
            shown = _percent(number)
        label = OPERATING_POINT.get(str(key), "")
        rows.append([f"<code>{_e(key)}</code>", _e(label) or "—", shown])
    return _table(["setting", "meaning", "value"], rows, numeric=[2])


def _header(
    title: str, when: datetime, accounts: Sequence[_Account], doc: Mapping[str, Any], n: int
) -> str:
    verdicts = Counter(a.verdict for a in accounts)
    in_campaigns = sum(1 for a in accounts if a.campaign)
    cards = [
        ("accounts", len(accounts), ""),
        ("exchanges", sum(a.exchanges for a in accounts), ""),
        ("clusters", len({a.cluster for a in accounts if a.cluster}), ""),
        ("campaigns", n, ""),
        ("accounts in campaigns", in_campaigns, ""),
    ]
    cards += [(f"verdict {v}", verdicts.get(v, 0), v) for v in VERDICTS]
    cards += [
        (f"verdict {_e(v, 40)}", k, "") for v, k in sorted(verdicts.items()) if v not in VERDICTS
    ]
    tiles = "".join(
        f'<div class="card {cls}"><b>{value:,}</b><span>{label}</span></div>'
        for label, value, cls in cards
    )
    version = doc.get("version")
    warn = (
        ""
        if version == 1
        else _note(f"campaigns.json declares version {_e(version)}; this page reads version 1.")
    )
    return (
        f"<header><h1>{_e(title)}</h1>"
        f'<p class="meta">Generated {when:%Y-%m-%d %H:%M} UTC from <code>accounts.csv</code> '
        f"and <code>campaigns.json</code> in this folder.</p>{warn}"
        f'<div class="cards">{tiles}</div>'
        f"<h4>Operating point</h4>{_operating_point(doc.get('operating_point'))}"
        '<nav><ul><li><a href="#campaigns">Campaigns</a></li>'
        '<li><a href="#how-to-read">How to read the scores</a></li>'
        '<li><a href="#other-accounts">Riskiest accounts outside campaigns</a></li>'
        "</ul></nav></header>"
    )


def _how_to_read(point: Any) -> str:
    fpr = _number(point.get("target_fpr"), 0.0, 1.0) if isinstance(point, Mapping) else None
    calibration = (
        f"The attack threshold was set for a target false-positive rate of {_percent(fpr)}: "
        "a mixture fitted to this traffic's risks estimates that about that share of its "
        "customers reach it (an estimate of the order of magnitude, not a count)."
        if fpr is not None
        else "Risk orders accounts; it is not a probability. The operating point's estimated "
        "false-positive rate, from a mixture fitted to this traffic's risks, gives the order "
        "of magnitude of customers flagged at the threshold."
    )
    glossary = _table(
        ["code", "scope", "meaning"],
        (
            [
                f'<code id="reason-{r.code}">{r.code}</code>',
                f"{r.scope}: {SCOPES[r.scope]}",
                _e(r.meaning),
            ]
            for r in REASONS.values()
        ),
    )
    return Template(_asset("how-to-read.html")).substitute(
        calibration=calibration, operating_point=_operating_point(point), glossary=glossary
    )


def _others(accounts: Sequence[_Account], members: set[str]) -> str:
    outside = [a for a in accounts if not a.campaign and a.id not in members]
    flagged = sum(1 for a in outside if a.verdict in ("attack", "suspicious"))
    top = heapq.nlargest(MAX_OTHER_ACCOUNTS, outside, key=lambda a: (a.risk, a.exchanges))
    head = (
        '<section id="other-accounts"><h2>Riskiest accounts outside campaigns</h2>'
        f"<p>{len(outside):,} accounts are in no campaign; {flagged:,} of them have the attack "
        "or suspicious verdict.</p>"
    )
    if not top:
        return head + _note("No accounts outside campaigns.") + "</section>"
    table = _table(
        ["account", "risk", "verdict", "cluster", "exchanges", "reasons"],
        _account_rows(top, cluster=True),
        numeric=[1, 4],
        filterable=True,
    )
    return head + table + _more(len(outside) - len(top), "accounts", "accounts.csv") + "</section>"


def _campaigns(
    accounts: Sequence[_Account], items: Sequence[Mapping[str, Any]]
) -> tuple[str, set[str]]:
    parsed = sorted(
        (_campaign(i, raw) for i, raw in enumerate(items)), key=lambda c: (-c.weight, c.id)
    )
    campaigns = [replace(c, rank=rank) for rank, c in enumerate(parsed, start=1)]
    by_id = {a.id: a for a in accounts}
    by_campaign: dict[str, list[_Account]] = {}
    for a in accounts:
        if a.campaign:
            by_campaign.setdefault(a.campaign, []).append(a)
    members = {name for c in campaigns for name in c.accounts}
    parts = ['<section id="campaigns"><h2>Campaigns</h2>']
    known = {c.id for c in campaigns}
    orphans = sum(len(rows) for name, rows in by_campaign.items() if name not in known)
    if orphans:
        parts.append(
            _note(f"{orphans:,} accounts in accounts.csv name a campaign campaigns.json lacks.")
        )
    if not campaigns:
        parts.append("<p><b>No campaigns were found in this hunt.</b></p></section>")
        return "".join(parts), members
    ids = Counter(c.id for c in campaigns)
    repeated = [name for name, k in ids.items() if k > 1]
    parts.append(
        f"<p>{len(campaigns):,} campaigns, ranked by confidence &times; exchanges.</p>"
        + (_note(f"Repeated campaign ids: {_e(', '.join(repeated))}.") if repeated else "")
    )
    shown = campaigns[:MAX_CAMPAIGNS]
    parts.append(_overview(shown))
    parts.append(_more(len(campaigns) - len(shown), "campaigns", "campaigns.json"))
    for c in shown:
        rows = {a.id: a for a in by_campaign.get(c.id, [])}
        for name in c.accounts:
            if name in by_id:
                rows.setdefault(name, by_id[name])
        absent = sum(1 for name in c.accounts if name not in by_id)
        parts.append(_campaign_section(c, list(rows.values()), absent))
    parts.append("</section>")
    return "".join(parts), members


def _limits() -> str:
    return (
        "<footer><h4>Limits of this page</h4><p>To stay small and fast, this page shows at "
        f"most {MAX_CAMPAIGNS:,} campaigns, for each its {MAX_CAMPAIGN_ACCOUNTS} riskiest "
        f"accounts, {MAX_ARTEFACTS} linked artefacts, {MAX_EVIDENCE} evidence lines, "
        f"{MAX_MODELS} models and {MAX_EXAMPLES} template examples, and the "
        f"{MAX_OTHER_ACCOUNTS} riskiest accounts outside campaigns; texts longer than "
        f"{MAX_TEXT} characters are cut. Where rows are left out the page says how many. "
        "accounts.csv and campaigns.json hold everything.</p></footer>"
    )


@cache
def _asset(name: str) -> str:
    return (files("distillguard.hunt") / "templates" / name).read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _page(title: str, when: datetime, accounts: Sequence[_Account], doc: Mapping[str, Any]) -> str:
    style, script = _asset("report.css"), _asset("report.js")
    # Nothing may be fetched: only this page's own style sheet and script run.
    policy = (
        f"default-src 'none'; style-src '{_digest(style)}'; script-src '{_digest(script)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    campaigns, members = _campaigns(accounts, doc["campaigns"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{style}</style></head><body>"
        + _header(title, when, accounts, doc, len(doc["campaigns"]))
        + f"<main>{campaigns}{_how_to_read(doc.get('operating_point'))}"
        + _others(accounts, members)
        + f"</main>{_limits()}<script>{script}</script></body></html>\n"
    )
