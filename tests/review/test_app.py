"""The review app through HTTP (TestClient): login, blindness, escaping, CSRF, roles, the three kinds of form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.review.conftest import (
    SYSTEMS,
    form_fields,
    invite_token,
    label_items,
    logged_in,
    new_campaign,
    pairwise_items,
    relabel_items,
)
from tunewise.review.app import create_app
from tunewise.review.campaigns import DEFAULT_CRITERIA
from tunewise.review.db import Vote, transaction

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def app(sqlite_url):
    new_campaign(sqlite_url, items=pairwise_items(3, payload=XSS), per_item=2)
    return create_app(sqlite_url)


def _votes(url: str) -> int:
    with transaction(url) as db:
        return db.scalar(select(func.count()).select_from(Vote))


def test_login_sets_a_locked_down_cookie_and_bad_links_get_a_clear_page(app, sqlite_url):
    client = TestClient(app)
    assert client.get("/review").status_code == 401 and "invite link" in client.get("/").text
    token = invite_token(sqlite_url, "c", "ann")
    response = client.get(f"/login?token={token}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and token not in cookie
    assert (
        response.headers["referrer-policy"] == "no-referrer"
        and "script-src 'self'" in response.headers["content-security-policy"]
    )
    assert "Hello ann" in client.get("/").text
    refused = TestClient(app).get("/login?token=not-a-token")
    assert refused.status_code == 403 and "not valid" in refused.text


def test_no_system_identity_reaches_the_reviewer(app, sqlite_url):
    client, csrf = logged_in(app, sqlite_url, "c", "ann")
    seen = []
    for _ in range(3):
        page = client.get("/review")
        seen.append(page.text + str(page.headers) + str(page.url))
        assignment, form_csrf = form_fields(page.text)
        voted = client.post(f"/review/{assignment}", data={"csrf": form_csrf, "choice": "B"}, follow_redirects=False)
        seen.append(str(voted.headers))
    seen += [client.get(path).text for path in ("/", "/review", "/static/review.css", "/static/review.js")]
    api = client.get("/api/next")
    seen.append(api.text)
    everything = "\n".join(seen)
    for secret in (*SYSTEMS, "item-0", "item-1", "system_hint"):  # names, item ids, meta
        assert secret not in everything
    assert "answer one to" in everything and "answer two to" in everything  # the outputs themselves are shown


def test_untrusted_text_is_escaped(app, sqlite_url):
    client, _ = logged_in(app, sqlite_url, "c", "ann")
    page = client.get("/review").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # only our own, from /static


def test_every_form_needs_the_csrf_token(app, sqlite_url):
    client, csrf = logged_in(app, sqlite_url, "c", "ann")
    assignment, _ = form_fields(client.get("/review").text)
    assert client.post(f"/review/{assignment}", data={"choice": "A"}).status_code == 403
    assert client.post(f"/review/{assignment}", data={"choice": "A", "csrf": "forged"}).status_code == 403
    vote = {"assignment": assignment, "answer": {"choice": "A"}}
    assert client.post("/api/votes", json=vote).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert _votes(sqlite_url) == 0
    assert client.post("/api/votes", json=vote, headers={"X-CSRF-Token": csrf}).json()["repeated"] is False


def test_keyboard_shortcuts_are_on_the_buttons(app, sqlite_url):
    client, _ = logged_in(app, sqlite_url, "c", "ann")
    page = client.get("/review").text
    keys = dict(re.findall(r'value="(\w+)" data-key="([^"]+)"', page))
    assert keys == {"A": "a 1", "B": "b 2", "tie": "t 3", "both_bad": "x 4"}


def test_only_admins_see_results_and_a_reviewer_only_their_own_items(app, sqlite_url):
    ann, ann_csrf = logged_in(app, sqlite_url, "c", "ann")
    bob, bob_csrf = logged_in(app, sqlite_url, "c", "bob")
    boss, _ = logged_in(app, sqlite_url, "c", "boss", admin=True)
    assert ann.get("/admin").status_code == 403 and ann.get("/admin/results.json").status_code == 403
    assignment = ann.get("/api/next").json()["assignment"]
    stolen = bob.post(
        "/api/votes", json={"assignment": assignment, "answer": {"choice": "A"}}, headers={"X-CSRF-Token": bob_csrf}
    )
    assert stolen.status_code == 404 and _votes(sqlite_url) == 0
    ann.post(
        "/api/votes", json={"assignment": assignment, "answer": {"choice": "tie"}}, headers={"X-CSRF-Token": ann_csrf}
    )
    page = boss.get("/admin")
    assert page.status_code == 200 and SYSTEMS[0] in page.text and "Krippendorff" in page.text
    assert boss.get("/admin/results.json").json()["outcomes"]["tie"] == 1


def test_a_reviewer_sees_done_when_nothing_is_left_and_logout_ends_the_session(app, sqlite_url):
    client, csrf = logged_in(app, sqlite_url, "c", "ann")
    for _ in range(3):
        assignment, form_csrf = form_fields(client.get("/review").text)
        client.post(f"/review/{assignment}", data={"csrf": form_csrf, "choice": "both_bad"})
    done = client.get("/review").text
    assert "All done" in done and "answered 3" in done
    assert client.get("/api/next").json() is None
    assert client.post("/logout", data={"csrf": csrf}).status_code == 200
    assert client.get("/review").status_code == 401


def test_rating_form_scores_each_response_on_the_rubric(sqlite_url):
    new_campaign(sqlite_url, name="r", kind="rating", items=pairwise_items(1), per_item=1)
    app = create_app(sqlite_url)
    client, _ = logged_in(app, sqlite_url, "r", "ann")
    page = client.get("/review").text
    assert page.count('type="radio"') == 2 * len(DEFAULT_CRITERIA) * 5
    assert all(anchor in page for anchor in DEFAULT_CRITERIA[0]["anchors"])
    assignment, csrf = form_fields(page)
    form = {f"score-{slot}-{c['name']}": str(slot + 2) for slot in (1, 2) for c in DEFAULT_CRITERIA}
    incomplete = client.post(f"/review/{assignment}", data={"csrf": csrf, **dict(list(form.items())[:-1])})
    assert incomplete.status_code == 400 and "persuasiveness needs a score" in incomplete.text
    assert "All done" in client.post(f"/review/{assignment}", data={"csrf": csrf, **form}).text
    with transaction(sqlite_url) as db:
        assert sorted(s["relevance"] for s in db.scalar(select(Vote)).answer["scores"].values()) == [3, 4]


def test_relabel_form_keeps_suggests_or_searches(sqlite_url):
    new_campaign(sqlite_url, name="l", kind="relabel", items=relabel_items(2), per_item=1)
    app = create_app(sqlite_url)
    client, _ = logged_in(app, sqlite_url, "l", "ann")
    page = client.get("/review").text
    assert "Use “card_lost”" in page and '<option value="exchange_rate">' in page
    assignment, csrf = form_fields(page)
    other = {"csrf": csrf, "label": "__other__", "comment": "neither"}
    assert client.post(f"/review/{assignment}", data=other | {"other_label": "nonsense"}).status_code == 400
    client.post(f"/review/{assignment}", data=other | {"other_label": "exchange_rate"})
    with transaction(sqlite_url) as db:
        vote = db.scalar(select(Vote))
        assert vote.answer == {"label": "exchange_rate", "accepted_suggestion": False} and vote.comment == "neither"
    assignment, csrf = form_fields(client.get("/review").text)
    client.post(f"/review/{assignment}", data={"csrf": csrf, "label": "card_lost", "other_label": ""})
    with transaction(sqlite_url) as db:
        assert db.scalars(select(Vote.answer).order_by(Vote.id)).all()[-1]["label"] == "card_lost"


def test_label_form_offers_the_shuffled_suggestions_a_search_none_and_unclear(sqlite_url):
    new_campaign(sqlite_url, name="pool", kind="label", items=label_items(3), per_item=1)
    client, _ = logged_in(create_app(sqlite_url), sqlite_url, "pool", "ann")
    page = client.get("/review").text
    assert "where is my new card" in page and "None of these" in page and "Unclear" in page
    assert all(f'value="{choice}"' in page for choice in ("card_arrival", "card_lost", "exchange_rate"))
    assert '<option value="top_up">' in page and SYSTEMS[0] not in page and "thin" not in page  # meta never shown
    assignment, csrf = form_fields(page)
    client.post(f"/review/{assignment}", data={"csrf": csrf, "label": "__other__", "other_label": "top_up"})
    assignment, csrf = form_fields(client.get("/review").text)
    client.post(f"/review/{assignment}", data={"csrf": csrf, "label": "__none__", "other_label": ""})
    assignment, csrf = form_fields(client.get("/review").text)
    assert client.post(f"/review/{assignment}", data={"csrf": csrf, "label": "made_up"}).status_code == 400
    client.post(f"/review/{assignment}", data={"csrf": csrf, "label": "__unclear__"})
    with transaction(sqlite_url) as db:
        answers = [answer["label"] for answer in db.scalars(select(Vote.answer).order_by(Vote.id)).all()]
    assert answers == ["top_up", "__none__", "__unclear__"]


def test_an_oversize_body_is_refused_before_authentication(app):
    client = TestClient(app)  # not logged in: the size is checked first, and the body is never read in full
    big = b"x" * (300 * 1024)
    assert client.post("/api/votes", content=big, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"y" * 8192

    assert client.post("/api/votes", content=chunks()).status_code == 413
    assert client.post("/api/votes", json={"assignment": "x", "answer": {}}).status_code == 401
