"""``distillguard serve`` and ``distillguard user-add``: run the console, add its users.

Mounted on the main command as ``app.command("serve")(serve)`` and
``app.command("user-add")(user_add)``. Exit codes as for the main command: 0 success,
2 a usage or input error. Passwords are read from a hidden prompt or from
``$DISTILLGUARD_CONSOLE_PASSWORD``, never from the command line (it would land in shell
history and process lists).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from ..errors import DistillguardError, InputError
from .types import ROLES

EXIT_USAGE: Final = 2
PASSWORD_ENV: Final = "DISTILLGUARD_CONSOLE_PASSWORD"

console = Console(stderr=True)

StoreDir = Annotated[
    Path,
    typer.Option(
        "--store",
        help="Folder with a hunt's accounts.csv and campaigns.json; the console "
        "keeps its database and secret there.",
    ),
]


def _fail(error: DistillguardError) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(EXIT_USAGE)


def serve(
    store: StoreDir,
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:8790",
    watchlist: Annotated[
        Path | None,
        typer.Option(help="The guard's watchlist folder (default: the store folder)."),
    ] = None,
    secure_cookie: Annotated[
        bool, typer.Option(help="Mark the session cookie Secure (when served over HTTPS).")
    ] = False,
) -> None:
    """Serve the analyst's console: campaigns, evidence, cases, decisions sent to the guard."""
    import uvicorn

    from .app import create_app
    from .db import DATABASE, Database
    from .users import Users

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise _fail(InputError(f"--listen {listen!r} is not HOST:PORT"))
    try:
        app = create_app(store, watchlist=watchlist, secure_cookie=secure_cookie)
        if not Users(Database(store / DATABASE)).count():
            console.print("no users yet: add one with `distillguard user-add --store ...`")
    except DistillguardError as error:
        raise _fail(error) from error
    console.print(f"console on http://{listen} over {store}")
    uvicorn.run(app, host=host, port=int(port), log_level="warning", server_header=False)


def user_add(
    store: StoreDir,
    name: Annotated[str, typer.Option(help="User name (A-Z a-z 0-9 . _ @ -).")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "viewer",
) -> None:
    """Add a console user; the password comes from a hidden prompt or
    $DISTILLGUARD_CONSOLE_PASSWORD."""
    from .users import add_user

    password = os.environ.get(PASSWORD_ENV) or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        store.mkdir(parents=True, exist_ok=True)
        add_user(store, name, password, role)
    except (DistillguardError, OSError) as error:
        known = error if isinstance(error, DistillguardError) else InputError(str(error))
        raise _fail(known) from error
    console.print(f"added {name} ({role})")
