"""A real browser (Debian's Chromium driven by Playwright) on the real server: log in with the invite URL, vote
with the mouse and with the keyboard, see the votes stored, and keep a screenshot to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.review.conftest import (
    SYSTEMS,
    free_port,
    invite_token,
    missing_tool,
    new_campaign,
    pairwise_items,
    relabel_items,
    start_server,
)
from tunewise.review.db import Vote, transaction


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where screenshots go: $TUNEWISE_SCREENSHOTS (to look at them, or for the docs), else the test's tmp."""
    folder = Path(os.environ.get("TUNEWISE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("playwright (pip install playwright)")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def served(sqlite_url):
    items = pairwise_items(3, payload='<b onmouseover="alert(1)">bold?</b>')
    items[0]["outputs"][SYSTEMS[0]] = "Your card is on its way. " * 12
    new_campaign(sqlite_url, items=items, per_item=1)
    port = free_port()
    server = start_server(sqlite_url, port)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def _choices(url: str) -> list[str]:
    with transaction(url) as db:
        return [vote.answer["choice"] for vote in db.scalars(select(Vote).order_by(Vote.id))]


def test_vote_with_the_mouse_and_the_keyboard(browser, served, sqlite_url, screenshots):
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(f"{served}/login?token={invite_token(sqlite_url, 'c', 'ann')}")
    assert page.get_by_role("heading", name="Hello ann").is_visible()
    page.click("#start")
    assert page.get_by_role("heading", name="Response A").is_visible()
    page.screenshot(path=str(screenshots / "review_pairwise.png"), full_page=True)
    assert "<b onmouseover" not in page.inner_html("main") and "bold?</b>" in page.inner_text("main")
    assert not any(system in page.content() for system in SYSTEMS)

    page.get_by_role("button", name="B is better").click()  # the mouse
    page.wait_for_url(f"{served}/review")
    assert _choices(sqlite_url) == ["B"]
    assert page.locator("#progress").inner_text() == "1 done · 2 left"

    page.keyboard.press("t")  # the keyboard: t is a tie
    page.wait_for_function("document.querySelector('#progress').innerText.startsWith('2 done')")
    assert _choices(sqlite_url) == ["B", "tie"]

    page.fill("#comment", "a and b")  # typing a comment must not vote
    assert _choices(sqlite_url) == ["B", "tie"]
    page.locator("#comment").blur()
    page.keyboard.press("1")
    page.wait_for_selector("text=All done")
    assert _choices(sqlite_url) == ["B", "tie", "A"]
    with transaction(sqlite_url) as db:
        assert db.scalars(select(Vote.comment).order_by(Vote.id)).all()[-1] == "a and b"


def test_a_phone_sized_screen_stacks_the_responses(browser, served, sqlite_url, screenshots):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(f"{served}/login?token={invite_token(sqlite_url, 'c', 'bob')}")
    page.goto(f"{served}/review")
    first, second = (page.locator(".response").nth(n).bounding_box() for n in (0, 1))
    assert second["y"] > first["y"] + first["height"] - 1 and first["width"] < 390  # stacked, not cut off
    page.screenshot(path=str(screenshots / "review_phone.png"), full_page=True)


def test_relabel_by_searching_a_label_and_pressing_enter(browser, sqlite_url):
    new_campaign(sqlite_url, name="l", kind="relabel", items=relabel_items(1), per_item=1)
    port = free_port()
    server = start_server(sqlite_url, port)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/login?token={invite_token(sqlite_url, 'l', 'ann')}")
        page.goto(f"http://127.0.0.1:{port}/review")
        page.fill("#label-search", "exchange_rate")
        page.press("#label-search", "Enter")
        page.wait_for_selector("text=All done")
    finally:
        server.terminate()
        server.wait(timeout=30)
    with transaction(sqlite_url) as db:
        assert db.scalar(select(Vote)).answer["label"] == "exchange_rate"
