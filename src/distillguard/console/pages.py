"""The pages an analyst reads: campaigns, one campaign, one account, the audit log, the
rules and a decision's frozen evidence."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ..types import CAPABILITIES
from . import audit, history
from .charts import artefact_graph, capability_bars, timeline
from .types import CASE_STATES, ENFORCE_ACTIONS
from .web import Ctx, endpoint

INTEL_MATCH: Final = "INTEL_MATCH"
"""The reason code of an account that matched a partner's shared indicators."""
PAGE_SIZE: Final = 50
ACCOUNTS_SHOWN: Final = 200


def _page(request: Request) -> int:
    text = request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < len(text) < 7 and int(text) > 0 else 1


def _attribution(raw: object) -> dict[str, Any] | None:
    """The hunt's attribution (known-actor file or partners' shared intel), made safe to
    show: the actor, the indicator set and the matched artefacts (kinds, hashed values)."""
    if not isinstance(raw, dict) or not raw:
        return None
    matched = raw.get("matched")
    items = [m for m in matched if isinstance(m, dict)] if isinstance(matched, list) else []
    return {
        "actor": str(raw.get("actor") or ""),
        "source": str(raw.get("indicator_set") or ""),
        "matched": [(str(m.get("kind", "")), str(m.get("value", ""))) for m in items[:64]],
        "other": orjson.dumps(
            {k: v for k, v in raw.items() if k not in ("actor", "indicator_set", "matched")}
        ).decode()
        if set(raw) - {"actor", "indicator_set", "matched"}
        else "",
    }


async def home(request: Request) -> Response:
    return RedirectResponse("/campaigns", status_code=303)


@endpoint("viewer")
async def campaigns(request: Request, ctx: Ctx) -> Response:
    state = request.query_params.get("state", "")
    capability = request.query_params.get("capability", "")
    state = state if state in CASE_STATES else ""
    capability = capability if capability in CAPABILITIES else ""
    states = ctx.console.cases.states()
    found = ctx.console.index.get().select(states, state=state, capability=capability)
    pages = max(1, math.ceil(len(found) / PAGE_SIZE))
    number = min(_page(request), pages)
    rows = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    return ctx.render(
        "campaigns.html",
        rows=rows,
        offset=(number - 1) * PAGE_SIZE,
        states=states,
        total=len(found),
        page=number,
        pages=pages,
        state=state,
        capability=capability,
        all_states=CASE_STATES,
        all_capabilities=CAPABILITIES,
    )


@endpoint("viewer")
async def campaign(request: Request, ctx: Ctx) -> Response:
    index = ctx.console.index.get()
    found = index.by_campaign.get(request.path_params["campaign"])
    if found is None:
        return PlainTextResponse("no such campaign", status_code=404)
    accounts = index.accounts_of(found)
    evidence = found.raw.get("evidence")
    return ctx.render(
        "campaign.html",
        c=found,
        case=ctx.console.cases.get(found.id),
        accounts=accounts[:ACCOUNTS_SHOWN],
        account_total=len(accounts),
        evidence=[str(e) for e in evidence] if isinstance(evidence, list) else [],
        attribution=_attribution(found.raw.get("attribution")),
        intel_accounts=sum(1 for a in accounts if INTEL_MATCH in a.reasons),
        reports=ctx.console.reports.for_clusters(found.clusters),
        timeline=timeline(found.raw, found.first_seen, found.last_seen, found.exchanges),
        capabilities=capability_bars(found.capabilities),
        graph=artefact_graph(found.raw, found.accounts, index.key_of),
        examples=history.examples(ctx.console.store, [a.account_id for a in accounts]),
        states=[s for s in CASE_STATES if s != "new"],
        actions=ENFORCE_ACTIONS,
        users=[u.name for u in ctx.console.users.all() if not u.disabled],
    )


@endpoint("viewer")
async def account(request: Request, ctx: Ctx) -> Response:
    index = ctx.console.index.get()
    found = index.by_key.get(request.path_params["key"])
    if found is None:
        return PlainTextResponse("no such account", status_code=404)
    days = history.activity(ctx.console.store, found.account_id)
    return ctx.render(
        "account.html",
        a=found,
        campaign=index.by_campaign.get(found.campaign_id),
        timeline=timeline(
            {"timeline": {"bucket": "day", "points": [[d, n] for d, n in days]}},
            "",
            "",
            found.exchanges,
        )
        if days
        else None,
        examples=history.examples(ctx.console.store, [found.account_id]),
        has_store=history.has_store(ctx.console.store),
    )


@endpoint("viewer")
async def audit_page(request: Request, ctx: Ctx) -> Response:
    number = _page(request)
    rows, total = audit.page(ctx.console.db, number)
    pages = max(1, math.ceil(total / audit.PAGE))
    return ctx.render("audit.html", rows=rows, page=number, pages=pages, total=total)


@endpoint("viewer")
async def decision(request: Request, ctx: Ctx) -> Response:
    text = request.path_params["decision"]
    evidence = ctx.console.cases.evidence(int(text)) if text.isdigit() and len(text) < 12 else None
    if evidence is None:
        return PlainTextResponse("no such decision", status_code=404)
    # Line by line, so the page's cap on one printed string cuts a value, not the record.
    lines = orjson.dumps(evidence, option=orjson.OPT_INDENT_2).decode().splitlines()
    return ctx.render("decision.html", number=text, lines=lines)


@endpoint("viewer")
async def rules(request: Request, ctx: Ctx) -> Response:
    """How often each reason code fired, and how the campaigns it fired on were decided."""
    index = ctx.console.index.get()
    confirmed: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    for _, state, reasons in ctx.console.cases.labelled():
        target = (
            confirmed if state == "confirmed" else false_pos if state == "false_positive" else None
        )
        if target is not None:
            target.update(set(reasons))
    campaigns = index.campaign_reason_counts
    codes = sorted(set(index.reason_counts) | set(campaigns), key=lambda r: -index.reason_counts[r])
    rows = []
    for code in codes:
        decided = confirmed[code] + false_pos[code]
        rows.append(
            {
                "code": code,
                "accounts": index.reason_counts[code],
                "attack": index.reason_by_verdict["attack"][code],
                "suspicious": index.reason_by_verdict["suspicious"][code],
                "benign": index.reason_by_verdict["benign"][code],
                "campaigns": campaigns[code],
                "confirmed": confirmed[code],
                "false_positive": false_pos[code],
                "fp_share": f"{false_pos[code] / decided:.0%}" if decided else "",
            }
        )
    return ctx.render("rules.html", rows=rows)
