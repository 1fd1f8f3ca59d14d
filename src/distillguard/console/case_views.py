"""The analyst's changes to a case, posted from the campaign page."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from .errors import CaseError
from .web import Ctx, endpoint


@endpoint("analyst")
async def change_case(request: Request, ctx: Ctx) -> Response:
    form, actor = ctx.form, ctx.user.name
    index = ctx.console.index.get()
    campaign = index.by_campaign.get(form.get("campaign", ""))
    if campaign is None:
        return PlainTextResponse("no such campaign", status_code=404)
    cases = ctx.console.cases
    try:
        op = form.get("op", "")
        if op == "assign":
            owner = form.get("owner") or actor
            if ctx.console.users.get(owner) is None:
                raise CaseError(f"no user {owner[:64]!r} to own the case")
            cases.assign(campaign, owner, actor=actor)
        elif op == "note":
            cases.note(campaign, form.get("body", ""), actor=actor)
        elif op == "state":
            await run_in_threadpool(
                cases.set_state,
                campaign,
                index.accounts_of(campaign),
                form.get("state", ""),
                actor=actor,
                why=form.get("why", ""),
                action=form.get("action") or None,
            )
        else:
            raise CaseError("unknown change")
    except CaseError as error:
        return ctx.render("error.html", status=400, message=str(error), campaign=campaign)
    return RedirectResponse("/campaigns/" + quote(campaign.id, safe=""), status_code=303)
