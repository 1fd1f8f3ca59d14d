"""Backtests, intel export and forensics reports: the pages that reach beyond one hunt.

A backtest reruns the hunt over stored history with a candidate operating point or without
some rules, and shows whom that would flag or release before it is switched on. Exporting
a campaign hands partners its indicators as a STIX bundle (a download, never stored here).
The forensics page lists the watermark forensics reports kept in the store folder.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ..hunt import OperatingPoint
from ..intel import ExportOptions
from ..signals.rules import Rule, load
from .backtest import BacktestOptions
from .errors import BacktestError, ExportError
from .share import campaign_bundle, sharing_key
from .web import Ctx, endpoint

CHANGES_SHOWN: Final = 500
RULE_FIELD: Final = "off:"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


@functools.cache
def _rules() -> tuple[Rule, ...]:
    return tuple(load())


def _score(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BacktestError(f"{name} {text[:20]!r} is not a number") from None
    return value


def _current_point(ctx: Ctx) -> tuple[float, float]:
    point = ctx.console.index.get().operating_point
    default = OperatingPoint()
    attack, suspicious = point.get("attack_score"), point.get("suspicious_score")
    return (
        float(attack) if isinstance(attack, int | float) else default.attack_score,
        float(suspicious) if isinstance(suspicious, int | float) else default.suspicious_score,
    )


def _form_page(ctx: Ctx, *, error: str | None = None, status: int = 200) -> Response:
    attack, suspicious = _current_point(ctx)
    return ctx.render(
        "backtests.html",
        status=status,
        error=error,
        attack=attack,
        suspicious=suspicious,
        rules=_rules(),
        rule_field=RULE_FIELD,
        jobs=ctx.console.backtests.recent(),
        has_store=ctx.console.backtests.exchange_store.is_dir(),
    )


@endpoint("analyst")
async def backtests_page(request: Request, ctx: Ctx) -> Response:
    return _form_page(ctx)


@endpoint("analyst")
async def start_backtest(request: Request, ctx: Ctx) -> Response:
    form = ctx.form
    try:
        point = OperatingPoint(
            _score(form.get("attack_score", ""), "attack score"),
            _score(form.get("suspicious_score", ""), "suspicious score"),
        )
        known = {rule.id for rule in _rules()}
        off = sorted(
            name[len(RULE_FIELD) :]
            for name in form
            if name.startswith(RULE_FIELD) and name[len(RULE_FIELD) :] in known
        )
        if not ctx.console.backtests.exchange_store.is_dir():
            raise BacktestError(
                "the hunt's exchange store is not in the store folder (store/); a backtest "
                "reruns the hunt over it"
            )
        ident = ctx.console.backtests.start(BacktestOptions(point, tuple(off)), actor=ctx.user.name)
    except BacktestError as error:
        return _form_page(ctx, error=str(error), status=400)
    return RedirectResponse(f"/backtests/{ident}", status_code=303)


@endpoint("analyst")
async def backtest_page(request: Request, ctx: Ctx) -> Response:
    job = ctx.console.backtests.get(request.path_params["job"])
    if job is None:
        return PlainTextResponse("no such backtest", status_code=404)
    index = ctx.console.index.get()
    rows = []
    if job.result is not None:
        for change in job.result.changes[:CHANGES_SHOWN]:
            known = change.account_id in index.accounts
            rows.append((change, index.key_of(change.account_id) if known else None))
    return ctx.render(
        "backtest.html",
        job=job,
        r=job.result,
        rows=rows,
        current=_current_point(ctx),
        populations=job.result.by_population() if job.result else {},
    )


def _filename(campaign_id: str) -> str:
    return (_UNSAFE.sub("-", campaign_id).strip("-.")[:80] or "campaign") + ".stix.json"


@endpoint("analyst")
async def export(request: Request, ctx: Ctx) -> Response:
    """The campaign's STIX bundle as a download; audited with the sharing key's id."""
    campaign = ctx.console.index.get().by_campaign.get(ctx.form.get("campaign", ""))
    if campaign is None:
        return PlainTextResponse("no such campaign", status_code=404)
    try:
        key = sharing_key()
        bundle = await run_in_threadpool(
            campaign_bundle,
            campaign,
            ctx.console.backtests.exchange_store,
            key,
            ExportOptions(),
        )
    except ExportError as error:
        return ctx.render("error.html", status=400, message=str(error), campaign=campaign)
    objects = len(bundle["objects"])
    ctx.console.audit(
        ctx.user.name, "intel.export", campaign.id, key_id=key.key_id, objects=objects
    )
    body = orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n"
    disposition = f'attachment; filename="{_filename(campaign.id)}"'
    return Response(
        body,
        media_type="application/stix+json;version=2.1",
        headers={"content-disposition": disposition},
    )


@endpoint("viewer")
async def forensics_page(request: Request, ctx: Ctx) -> Response:
    reports = ctx.console.reports.all()
    by_cluster = ctx.console.index.get().by_cluster
    rows = [(r, by_cluster.get(r.cluster) if r.cluster else None) for r in reports]
    return ctx.render("forensics.html", rows=rows)
