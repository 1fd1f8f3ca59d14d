"""Console security: log-in, roles, CSRF, the session cookie and the response headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console_world import (
    USERS,
    Browser,
    browser,
    csrf_of,
    hunt_output,
    store,
    top_campaign,
    users_db,
)
from distillguard.console.session import Sessions
from distillguard.console.users import Users

__all__ = ["hunt_output", "store", "users_db"]  # fixtures used here


def test_pages_need_a_login(store: Path) -> None:
    cid = top_campaign(store)
    anonymous = Browser(store)
    for path in ("/campaigns", f"/campaigns/{cid}", "/audit", "/rules", "/admin/users"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    token = csrf_of(anonymous.get("/login").text)
    posted = anonymous.client.post(
        "/cases", data={"csrf": token, "campaign": "x", "op": "note", "body": "hi"}
    )
    assert posted.status_code == 401


def test_wrong_password_and_unknown_user_are_refused_alike(store: Path) -> None:
    b = Browser(store)
    for name, password in (("ana", "not the password"), ("nobody", "whatever123")):
        response = b.login(name, password)
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
        assert "not the password" not in response.text
    assert b.get("/campaigns", follow_redirects=False).status_code == 303
    audit = browser(store, "ana").get("/audit").text
    assert "login.failed" in audit and "not the password" not in audit


def test_repeated_failures_are_slowed_down(store: Path) -> None:
    b = Browser(store)
    codes = [b.login("vic", "wrong password!").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    assert b.login("vic").status_code == 429  # even the right password, until the window ends


def test_roles(store: Path) -> None:
    cid = top_campaign(store)
    viewer, analyst, admin = browser(store, "vic"), browser(store, "ana"), browser(store, "ada")
    note = {"campaign": cid, "op": "note", "body": "looks bad"}
    assert viewer.get("/campaigns").status_code == 200
    assert viewer.post("/cases", note).status_code == 403
    assert analyst.post("/cases", note).status_code == 303
    assert admin.post("/cases", note).status_code == 303
    for who in (viewer, analyst):
        assert who.get("/admin/users").status_code == 403
    assert admin.get("/admin/users").status_code == 200
    added = admin.post(
        "/admin/users",
        {"op": "add", "name": "new", "password": "a long password", "role": "analyst"},
        page="/admin/users",
    )
    assert added.status_code == 303
    assert browser(store, "ana").get("/campaigns").status_code == 200


def test_role_changes_and_disabling_apply_at_once(store: Path) -> None:
    cid = top_campaign(store)
    analyst, admin = browser(store, "ana"), browser(store, "ada")
    note = {"campaign": cid, "op": "note", "body": "x"}
    admin.post("/admin/users", {"op": "role", "name": "ana", "role": "viewer"}, page="/admin/users")
    assert analyst.post("/cases", note).status_code == 403
    admin.post("/admin/users", {"op": "disable", "name": "ana"}, page="/admin/users")
    assert analyst.get("/campaigns", follow_redirects=False).status_code == 303
    assert Browser(store).login("ana").status_code == 401


def test_posts_without_the_csrf_token_are_rejected(store: Path) -> None:
    cid = top_campaign(store)
    analyst = browser(store, "ana")
    form = {"campaign": cid, "op": "note", "body": "x"}
    assert analyst.client.post("/cases", data=form).status_code == 403
    assert analyst.client.post("/cases", data={**form, "csrf": "forged"}).status_code == 403
    other = browser(store, "vic")  # another session's token is no good either
    token = csrf_of(other.get("/campaigns").text)
    assert analyst.client.post("/cases", data={**form, "csrf": token}).status_code == 403
    as_json = analyst.client.post("/cases", json=form)
    assert as_json.status_code == 400
    assert analyst.client.post("/logout", data={"x": "1"}).status_code == 403
    fresh = Browser(store)
    fresh.get("/login")
    login = {"name": "ana", "password": "correct horse battery"}
    assert fresh.client.post("/login", data=login).status_code == 403
    assert "case.note" not in analyst.get("/audit").text


def test_session_cookie_is_signed_http_only_and_strict(store: Path) -> None:
    b = Browser(store)
    response = b.login("vic")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "correct horse" not in cookie
    value = b.client.cookies["dg_session"]
    body, tag = value.split(".")
    b.client.cookies.clear()
    b.client.cookies.set("dg_session", f"{body}x.{tag}")
    assert b.get("/campaigns", follow_redirects=False).status_code == 303
    secure = Browser(store, secure_cookie=True).get("/login").headers["set-cookie"]
    assert "Secure" in secure


def test_logging_in_issues_a_new_session_and_logout_ends_it(store: Path) -> None:
    b = Browser(store)
    b.get("/login")
    before = b.client.cookies["dg_session"]
    b.login("vic")
    assert b.client.cookies["dg_session"] != before
    stolen = b.client.cookies["dg_session"]
    assert b.post("/logout", {}).status_code == 303
    assert b.get("/campaigns", follow_redirects=False).status_code == 303
    # A copy of the cookie taken before logging out is dead too, and only that session is.
    thief = Browser(store)
    thief.client.cookies.set("dg_session", stolen)
    assert thief.get("/campaigns", follow_redirects=False).status_code == 303
    other = Browser(store)
    other.login("vic")
    assert other.get("/campaigns", follow_redirects=False).status_code == 200


def test_sessions_expire() -> None:
    now = [1000.0]
    sessions = Sessions(b"k" * 32, max_age=60, clock=lambda: now[0])
    session, cookie = sessions.issue("vic")
    assert sessions.read(cookie) == session
    now[0] += 61
    assert sessions.read(cookie) is None
    assert Sessions(b"other" * 8).read(cookie) is None


def test_passwords_are_salted_scrypt_hashes(store: Path) -> None:
    from distillguard.console.db import DATABASE, Database

    db = Database(store / DATABASE)
    with db.connect() as conn:
        rows = conn.execute("SELECT salt, hash, params FROM users").fetchall()
    assert len({row["salt"] for row in rows}) == len(rows) == len(USERS)
    assert all(b"correct" not in row["hash"] for row in rows)
    assert all('"n":16384' in row["params"] for row in rows)
    assert Users(db).verify("ana", "correct horse battery") is not None


@pytest.mark.parametrize("path", ["/login", "/campaigns", "/static/console.css", "/nowhere"])
def test_security_headers_on_every_response(store: Path, path: str) -> None:
    response = browser(store, "vic").get(path)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_no_script_and_no_inline_style_on_any_page(store: Path) -> None:
    cid = top_campaign(store)
    b = browser(store, "ada")
    for path in ("/campaigns", f"/campaigns/{cid}", "/audit", "/rules", "/admin/users"):
        html = b.get(path).text
        assert "<script" not in html and " style=" not in html and "http://" not in html, path


def test_account_ids_stay_out_of_urls(store: Path) -> None:
    cid = top_campaign(store)
    b = browser(store, "vic")
    page = b.get(f"/campaigns/{cid}").text
    links = re.findall(r'href="([^"]+)"', page)
    accounts = [link for link in links if link.startswith("/accounts/")]
    assert accounts
    assert not [link for link in links if "acct_" in link]
    assert b.get(accounts[0]).status_code == 200
    assert b.get("/accounts/acct_0000").status_code == 404


def test_a_redirect_after_login_stays_on_the_site(store: Path) -> None:
    b = Browser(store)
    form = {"name": "vic", "password": "correct horse battery"}
    for target in ("//evil.example", "https://evil.example/", "/\\evil"):
        token = csrf_of(b.get("/login").text)
        response = b.client.post(
            "/login", data={**form, "csrf": token, "next": target}, follow_redirects=False
        )
        assert response.headers["location"] == "/campaigns"


def test_api_tokens_act_as_their_user_until_revoked(store: Path) -> None:
    cid = top_campaign(store)
    admin = browser(store, "ada")
    issued = admin.post(
        "/admin/users", {"op": "token", "name": "vic", "label": "<b>ci</b>"}, page="/admin/users"
    )
    assert issued.status_code == 200 and "&lt;b&gt;ci&lt;/b&gt;" in issued.text
    token = re.search(r"<code>(dgc_[A-Za-z0-9_-]+)</code>", issued.text)
    assert token is not None
    client = Browser(store).client
    headers = {"authorization": f"Bearer {token.group(1)}"}
    assert client.get("/campaigns", headers=headers).status_code == 200
    assert client.get("/admin/users", headers=headers).status_code == 403
    note = {"campaign": cid, "op": "note", "body": "x"}
    assert client.post("/cases", data=note, headers=headers).status_code == 403  # a viewer
    wrong = {"authorization": "Bearer dgc_wrong"}
    assert client.get("/campaigns", headers=wrong, follow_redirects=False).status_code == 401
    assert token.group(1) not in admin.get("/admin/users").text  # shown once
    admin.post("/admin/users", {"op": "revoke", "token": "1"}, page="/admin/users")
    assert client.get("/campaigns", headers=headers).status_code == 401


def test_an_analyst_token_changes_cases_without_a_csrf_token(store: Path) -> None:
    cid = top_campaign(store)
    admin = browser(store, "ada")
    issued = admin.post("/admin/users", {"op": "token", "name": "ana"}, page="/admin/users")
    token = re.search(r"<code>(dgc_[A-Za-z0-9_-]+)</code>", issued.text)
    assert token is not None
    headers = {"authorization": f"Bearer {token.group(1)}"}
    note = {"campaign": cid, "op": "note", "body": "from a script"}
    client = Browser(store).client
    assert (
        client.post("/cases", data=note, headers=headers, follow_redirects=False).status_code == 303
    )
    assert "from a script" in admin.get(f"/campaigns/{cid}").text
