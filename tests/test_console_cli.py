"""The console's commands, mounted on a Typer app as the main command mounts them."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from distillguard.console.cli import PASSWORD_ENV, serve, user_add
from distillguard.console.db import DATABASE, Database
from distillguard.console.users import Users

app = typer.Typer()
app.command("serve")(serve)
app.command("user-add")(user_add)


def _flat(text: str) -> str:
    """The output without the line breaks the terminal width put in."""
    return " ".join(text.split())


def test_user_add_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {PASSWORD_ENV: "a long enough password"}
    args = ["user-add", "--store", str(tmp_path), "--name", "ana", "--role", "analyst"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    users = Users(Database(tmp_path / DATABASE))
    assert users.verify("ana", "a long enough password") is not None
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 2 and "already exists" in _flat(again.output)
    bad_role = runner.invoke(app, [*args[:4], "bob", "--role", "root"], env=env)
    assert bad_role.exit_code == 2 and "role" in _flat(bad_role.output)


def test_serve_refuses_a_bad_address_or_store(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["serve", "--store", str(tmp_path), "--listen", "nowhere"])
    assert bad.exit_code == 2 and "HOST:PORT" in _flat(bad.output)
    missing = runner.invoke(app, ["serve", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "not a folder" in _flat(missing.output)
