"""The console's web application: ``create_app(store)`` builds it over one store folder.

The store folder holds a hunt's output (``accounts.csv``, ``campaigns.json``), the
console's SQLite database and its signing secret (both created on first run). The guard's
watchlist folder, where decisions are written, is the store folder unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import auth_views, case_views, pages, tool_views
from .cases import Cases
from .db import DATABASE, Database, load_secret
from .errors import StoreError
from .forensics import Reports
from .hunt_index import LiveIndex
from .jobs import Backtests
from .security import SecurityHeaders
from .session import MAX_AGE, EndedSessions, Sessions, derive
from .tokens import Tokens
from .users import Users
from .web import Console, templates

STATIC: Final = Path(__file__).parent / "static"


def create_app(
    store: Path,
    *,
    watchlist: Path | None = None,
    secure_cookie: bool = False,
    session_hours: float = MAX_AGE / 3600,
) -> Starlette:
    """The console over ``store``; ``secure_cookie`` marks the session cookie ``Secure``
    (set it whenever the console is reached over HTTPS, as it should be beyond localhost)."""
    if not store.is_dir():
        raise StoreError(f"{store}: not a folder")
    secret = load_secret(store)
    db = Database(store / DATABASE)
    folder = watchlist or store
    users = Users(db)
    console = Console(
        store=store,
        watchlist=folder,
        db=db,
        users=users,
        tokens=Tokens(db, users),
        cases=Cases(db, folder),
        sessions=Sessions(secret, max_age=int(session_hours * 3600)),
        ended=EndedSessions(db),
        index=LiveIndex(store, derive(secret, "account")),
        env=templates(),
        secure_cookie=secure_cookie,
        backtests=Backtests(store, db),
        reports=Reports(store),
    )
    css = (STATIC / "console.css").read_bytes()

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css")

    async def favicon(request: Request) -> Response:
        # Browsers ask for it on every site; an empty answer keeps their consoles clean.
        return Response(status_code=204)

    routes = [
        Route("/", pages.home),
        Route("/login", auth_views.login_page, methods=["GET"]),
        Route("/login", auth_views.login, methods=["POST"]),
        Route("/logout", auth_views.logout, methods=["POST"]),
        Route("/campaigns", pages.campaigns),
        Route("/campaigns/{campaign:path}", pages.campaign),
        Route("/accounts/{key}", pages.account),
        Route("/cases", case_views.change_case, methods=["POST"]),
        Route("/export", tool_views.export, methods=["POST"]),
        Route("/backtests", tool_views.backtests_page, methods=["GET"]),
        Route("/backtests", tool_views.start_backtest, methods=["POST"]),
        Route("/backtests/{job}", tool_views.backtest_page),
        Route("/forensics", tool_views.forensics_page),
        Route("/decisions/{decision}", pages.decision),
        Route("/audit", pages.audit_page),
        Route("/rules", pages.rules),
        Route("/admin/users", auth_views.users_page, methods=["GET"]),
        Route("/admin/users", auth_views.users_change, methods=["POST"]),
        Route("/static/console.css", stylesheet),
        Route("/favicon.ico", favicon),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.console = console
    return app
