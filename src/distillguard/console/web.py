"""What every console endpoint shares: the templates, who is asking, what they may do,
reading a form and checking its CSRF token.

An endpoint is written as ``async def handler(request, ctx)`` and wrapped with
``endpoint(role)``; before the handler runs, the wrapper turns away visitors who are not
logged in (a redirect to the log-in page for a page, 401 otherwise and for a bad API
token), users whose role is too low (403) and posts without the session's CSRF token (403;
a request with an API token carries no cookie, so it needs none).
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from ..hunt.reasons import REASONS
from .audit import record
from .cases import Cases
from .db import Database
from .forensics import Reports
from .hunt_index import LiveIndex
from .jobs import Backtests
from .session import COOKIE, EndedSessions, Session, Sessions
from .tokens import Tokens
from .types import Role, role_at_least
from .users import User, Users

TEMPLATES: Final = Path(__file__).parent / "templates"
MAX_FORM: Final = 64 * 1024
MAX_TEXT: Final = 2000
FORM_TYPE: Final = "application/x-www-form-urlencoded"
_BIDI: Final = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(value: object) -> object:
    """Every ``{{ … }}`` passes here before it is escaped: direction controls are shown as
    code points (they could make a hostile id read as something else) and very long
    strings are cut."""
    if isinstance(value, str) and not isinstance(value, Markup):
        if len(value) > MAX_TEXT:
            value = value[:MAX_TEXT] + "…"
        return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)
    return value


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=_visible,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["campaign_url"] = lambda cid: "/campaigns/" + quote(str(cid), safe="")
    env.filters["account_url"] = lambda key: "/accounts/" + quote(str(key), safe="")
    env.filters["pct"] = lambda x: f"{float(x):.0%}"
    env.filters["num"] = lambda x: f"{int(x):,}"
    # The analyst's sentence for a reason code (the hunt's glossary); escaped like any value.
    env.filters["meaning"] = lambda code: REASONS[code].meaning if code in REASONS else ""
    env.globals["query"] = lambda **kw: urlencode({k: v for k, v in kw.items() if v})
    return env


@dataclass(slots=True)
class Console:
    """Everything the endpoints share, built once by ``create_app``."""

    store: Path
    watchlist: Path
    db: Database
    users: Users
    tokens: Tokens
    cases: Cases
    sessions: Sessions
    ended: EndedSessions
    index: LiveIndex
    env: Environment
    secure_cookie: bool
    backtests: Backtests
    reports: Reports
    failures: defaultdict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    """Recent failed log-ins per user name (in memory: a restart forgets them)."""

    def set_session(self, response: Response, cookie: str) -> None:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=self.sessions.max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure_cookie,
        )

    def audit(self, actor: str, action: str, target: str, **detail: Any) -> None:
        with self.db.connect() as conn:
            record(conn, actor, action, target, detail=detail)


@dataclass(slots=True)
class Ctx:
    console: Console
    user: User
    session: Session
    form: dict[str, str]

    def render(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.console.env.get_template(name).render(
            user=self.user, csrf=self.console.sessions.csrf(self.session), **values
        )
        return HTMLResponse(html, status_code=status)


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


async def read_form(request: Request) -> dict[str, str] | None:
    """A URL-encoded form (first value per name), or ``None`` if it is not one or too big."""
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_TYPE:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=64
        )
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def safe_next(target: str | None) -> str:
    """Only a path on this site, so the log-in page cannot send anyone elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/campaigns"


Handler = Callable[[Request, Ctx], Awaitable[Response]]


def _identify(request: Request, console: Console) -> tuple[User | None, Session | None, bool]:
    """Who is asking: by API token (``Authorization: Bearer``) or by session cookie."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        user = console.tokens.user(header[7:].strip())
        # A stand-in session so pages render; its CSRF token is never checked.
        nonce = secrets.token_urlsafe(18)
        return user, Session(user.name if user else None, nonce, 0.0), True
    session = console.sessions.read(request.cookies.get(COOKIE))
    if session and session.user and console.ended.ended(session):
        session = None
    user = console.users.get(session.user) if session and session.user else None
    return (None if user is None or user.disabled else user), session, False


def endpoint(role: Role) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            console = console_of(request)
            user, session, by_token = _identify(request, console)
            if session is None or user is None:
                if request.method == "GET" and not by_token:
                    target = urlencode({"next": request.url.path})
                    return RedirectResponse(f"/login?{target}", status_code=303)
                return PlainTextResponse("log in first", status_code=401)
            if not role_at_least(user.role, role):
                return PlainTextResponse(f"this needs the {role} role", status_code=403)
            form: dict[str, str] = {}
            if request.method == "POST":
                found = await read_form(request)
                if found is None:
                    return PlainTextResponse("expected a URL-encoded form", status_code=400)
                if not by_token and not console.sessions.csrf_ok(session, found.get("csrf")):
                    return PlainTextResponse("CSRF token missing or wrong", status_code=403)
                form = found
            return await handler(request, Ctx(console, user, session, form))

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap
