"""Logging in and out, and the admin's page of users.

Failed log-ins are counted per user name in memory; after ``MAX_FAILURES`` within
``WINDOW`` seconds that name is refused until the window passes, which slows password
guessing without a lock-out that outlives a restart. Neither passwords nor cookies are ever
logged or audited.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from .errors import UserError
from .session import COOKIE
from .types import ROLES
from .web import Ctx, console_of, endpoint, read_form, safe_next

MAX_FAILURES: Final = 5
WINDOW: Final = 900.0


def _too_many(seen: deque[float], now: float) -> bool:
    while seen and now - seen[0] > WINDOW:
        seen.popleft()
    return len(seen) >= MAX_FAILURES


async def login_page(request: Request) -> Response:
    console = console_of(request)
    session = console.sessions.read(request.cookies.get(COOKIE))
    cookie = None
    if session is None:
        session, cookie = console.sessions.issue(None)
    html = console.env.get_template("login.html").render(
        user=None,
        csrf=console.sessions.csrf(session),
        next=safe_next(request.query_params.get("next")),
        error=None,
    )
    response = HTMLResponse(html)
    if cookie:
        console.set_session(response, cookie)
    return response


async def login(request: Request) -> Response:
    console = console_of(request)
    session = console.sessions.read(request.cookies.get(COOKIE))
    form = await read_form(request)
    if form is None:
        return PlainTextResponse("expected a URL-encoded form", status_code=400)
    if not console.sessions.csrf_ok(session, form.get("csrf")) or session is None:
        return PlainTextResponse("CSRF token missing or wrong", status_code=403)
    name, password = form.get("name", "")[:64], form.get("password", "")
    now = time.monotonic()
    if _too_many(console.failures[name], now):
        return PlainTextResponse("too many failed log-ins; try again later", status_code=429)
    user = await run_in_threadpool(console.users.verify, name, password)
    if user is None:
        console.failures[name].append(now)
        # Only a known name is recorded: people type passwords into the name field.
        known = name if console.users.get(name) is not None else "(unknown)"
        console.audit(known, "login.failed", known)
        html = console.env.get_template("login.html").render(
            user=None,
            csrf=console.sessions.csrf(session),
            next=safe_next(form.get("next")),
            error="Wrong user name or password.",
        )
        return HTMLResponse(html, status_code=401)
    console.failures.pop(name, None)
    console.audit(user.name, "login", user.name)
    _, cookie = console.sessions.issue(user.name)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    console.set_session(response, cookie)
    return response


@endpoint("viewer")
async def logout(request: Request, ctx: Ctx) -> Response:
    ctx.console.audit(ctx.user.name, "logout", ctx.user.name)
    ctx.console.ended.end(ctx.session, ctx.console.sessions.max_age)
    _, cookie = ctx.console.sessions.issue(None)
    response = RedirectResponse("/login", status_code=303)
    ctx.console.set_session(response, cookie)
    return response


def _users(
    ctx: Ctx, *, error: str | None = None, issued: tuple[str, str] | None = None
) -> Response:
    return ctx.render(
        "users.html",
        status=400 if error else 200,
        users=ctx.console.users.all(),
        tokens=ctx.console.tokens.all(),
        roles=ROLES,
        error=error,
        issued=issued,
    )


@endpoint("admin")
async def users_page(request: Request, ctx: Ctx) -> Response:
    return _users(ctx)


@endpoint("admin")
async def users_change(request: Request, ctx: Ctx) -> Response:
    users, form, actor = ctx.console.users, ctx.form, ctx.user.name
    op, name = form.get("op", ""), form.get("name", "")
    try:
        if op == "add":
            await run_in_threadpool(
                users.add, name, form.get("password", ""), form.get("role", ""), actor=actor
            )
        elif op == "role":
            if name == actor:
                raise UserError("you cannot change your own role")
            users.set_role(name, form.get("role", ""), actor=actor)
        elif op == "token":
            token = ctx.console.tokens.issue(name, form.get("label", ""), actor=actor)
            return _users(ctx, issued=(name, token))
        elif op == "revoke":
            text = form.get("token", "")
            if not text.isdigit() or len(text) > 12:
                raise UserError("no such token")
            ctx.console.tokens.revoke(int(text), actor=actor)
        elif op in ("disable", "enable"):
            if name == actor:
                raise UserError("you cannot disable yourself")
            users.set_disabled(name, op == "disable", actor=actor)
        else:
            raise UserError("unknown change")
    except UserError as error:
        return _users(ctx, error=str(error))
    return RedirectResponse("/admin/users", status_code=303)
