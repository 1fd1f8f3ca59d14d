"""The console in a real browser: headless Chromium driven by Playwright, the console served
by uvicorn on a loopback port.

An analyst logs in, opens a campaign of the simulated traffic, confirms it and sees the
action reach the guard's watchlist, marks another as a false positive and reads both in the
audit log. Every page is visited with the browser's console open: the strict CSP
(``script-src 'none'``) must never have to block anything, so no page needs inline script.

Screenshots of the main pages are kept: in ``$DISTILLGUARD_ARTEFACTS/console/`` when that
variable names a folder (relative to the repository root, as CI keeps it; ``1`` means
``test-artefacts``), else in a temporary folder; the folder is printed. The browser is
Debian's ``chromium`` (or the one ``$DISTILLGUARD_CHROMIUM`` names); without it or without
Playwright the tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import uvicorn

from console_world import PASSWORD, _hunt_output, _users_db, campaigns, make_full_store
from distillguard.console import create_app
from distillguard.console.security import CSP
from distillguard.guard.watchlist import ENTRIES, Watchlist

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
except ImportError:  # pragma: no cover - CI installs it
    pytest.skip("Playwright is not installed (pip install playwright)", allow_module_level=True)

CHROMIUM: Final = os.environ.get("DISTILLGUARD_CHROMIUM", "/usr/bin/chromium")
ARGS: Final = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO: Final = Path(__file__).resolve().parent.parent
DEFAULT_ARTEFACTS: Final = "test-artefacts"

if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set DISTILLGUARD_CHROMIUM)",
        allow_module_level=True,
    )


class Served:
    """The console on a free loopback port, in a thread of this process."""

    def __init__(self, store: Path) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(store), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    root = os.environ.get("DISTILLGUARD_ARTEFACTS", "")
    root = DEFAULT_ARTEFACTS if root.lower() in ("1", "yes", "true") else root
    folder = REPO / root / "console" if root else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"console screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Served]]:
    store = make_full_store(
        tmp_path_factory.mktemp("browser") / "store", _hunt_output(), _users_db()
    )
    with Served(store) as served:
        yield store, served


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Visit:
    """One browser page that records every console error and failed request."""

    def __init__(self, browser: Browser, base: str, shots: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page: Page = self.context.new_page()
        self.base, self.shots = base, shots
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{self.page.url}: {message.text}")

    def go(self, path: str) -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None and response.ok, path
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def login(self, name: str) -> None:
        self.go("/campaigns")
        assert "/login" in self.page.url  # sent to log in first
        self.page.fill('input[name="name"]', name)
        self.page.fill('input[name="password"]', PASSWORD)
        self.page.click('button:has-text("Log in")')
        self.page.wait_for_url("**/campaigns")

    def decide(self, state: str, why: str, action: str = "") -> None:
        form = self.page.locator('form:has(input[name="op"][value="state"])')
        form.locator('select[name="state"]').select_option(state)
        if action:
            form.locator('select[name="action"]').select_option(action)
        form.locator('textarea[name="why"]').fill(why)
        form.locator('button[type="submit"]').click()
        self.page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()


def _campaign_id(page: Page) -> str:
    return str(page.locator("h1 .id").inner_text())


def test_an_analyst_confirms_and_clears_campaigns_in_the_browser(
    world: tuple[Path, Served], chromium: Browser, artefacts: Path
) -> None:
    store, served = world
    visit = Visit(chromium, served.url, artefacts)
    try:
        visit.go("/login")
        visit.shot("login")
        visit.login("ana")
        page = visit.page
        assert page.locator("table tbody tr").count() == min(50, len(campaigns(store)))
        visit.shot("campaigns")

        page.locator("table tbody tr").nth(0).locator("a").first.click()
        first = _campaign_id(page)
        assert page.locator("svg.chart").count() >= 1
        visit.shot("campaign")
        visit.decide("confirmed", "shared payment across the accounts", action="block")
        assert page.locator("h1 .state").inner_text() == "confirmed"
        visit.shot("campaign-confirmed")
        record = next(c for c in campaigns(store) if c["id"] == first)
        watchlist = Watchlist(store)
        assert not watchlist.problems
        assert all(watchlist.account(a).watch == "block" for a in record["accounts"])

        page.locator('td a[href^="/accounts/"]').first.click()
        assert page.locator("h1").inner_text().startswith("Account")
        visit.shot("account")

        visit.go("/campaigns?state=new")
        page.locator("table tbody tr").nth(0).locator("a").first.click()
        second = _campaign_id(page)
        assert second != first
        visit.decide("false_positive", "a university lab we know")
        assert page.locator("h1 .state").inner_text() == "false_positive"
        lines = (store / ENTRIES).read_text(encoding="utf-8")
        assert f'"case":"{second}"' in lines and '"action":"allow"' in lines
        watchlist.reload()
        other = next(c for c in campaigns(store) if c["id"] == second)["accounts"][0]
        assert watchlist.account(other).watch == "allow"

        visit.go("/audit")
        audit = page.locator("table").inner_text()
        assert "case.confirmed" in audit and "case.false_positive" in audit
        assert "a university lab we know" in audit and first in audit and second in audit
        visit.shot("audit")
        for path, name in (("/rules", "rules"), ("/forensics", "forensics")):
            visit.go(path)
            visit.shot(name)
        assert visit.errors == []  # nothing blocked, nothing failed, on any page
    finally:
        visit.close()
    for name in ("login", "campaigns", "campaign", "account", "audit"):
        assert (artefacts / f"{name}.png").stat().st_size > 1000


def test_the_backtest_page_in_the_browser(
    world: tuple[Path, Served], chromium: Browser, artefacts: Path
) -> None:
    _, served = world
    visit = Visit(chromium, served.url, artefacts)
    try:
        visit.login("ana")
        page = visit.go("/backtests")
        page.fill('input[name="attack_score"]', "0.3")
        page.fill('input[name="suspicious_score"]', "0.3")
        page.click('button:has-text("Run backtest")')
        page.wait_for_url("**/backtests/*")
        # The running page refreshes itself (meta refresh, no script) until the hunt is done.
        page.locator("h1 .state.done").wait_for(timeout=60_000)
        assert "Newly flagged" in page.content()
        visit.shot("backtest")
        assert visit.errors == []
    finally:
        visit.close()


def test_the_admin_page_in_the_browser(
    world: tuple[Path, Served], chromium: Browser, artefacts: Path
) -> None:
    _, served = world
    visit = Visit(chromium, served.url, artefacts)
    try:
        visit.login("ada")
        page = visit.go("/admin/users")
        assert page.locator("table").first.inner_text().count("analyst") >= 1
        visit.shot("users")
        page.click('button:has-text("Log out")')
        page.wait_for_url("**/login")
        assert visit.errors == []
    finally:
        visit.close()


def test_a_page_that_needed_inline_script_would_be_caught(
    world: tuple[Path, Served], chromium: Browser
) -> None:
    """The check above can fail: the same CSP on a page with inline script is reported."""
    _, served = world
    visit = Visit(chromium, served.url, Path())
    probe = "<!doctype html><title>probe</title><script>document.title = 'ran'</script>"

    def fulfil(route: Any) -> None:
        route.fulfill(
            status=200,
            content_type="text/html",
            headers={"content-security-policy": CSP},
            body=probe,
        )

    try:
        visit.page.route(served.url + "/probe", fulfil)
        visit.go("/probe")
        assert visit.page.title() == "probe"  # the script did not run
        assert any("Content Security Policy" in e for e in visit.errors), visit.errors
    finally:
        visit.close()
