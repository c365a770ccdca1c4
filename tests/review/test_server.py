"""The real server process: votes acknowledged before a SIGKILL are all there after a restart."""

from __future__ import annotations

import signal
import threading
import time

import httpx
from sqlalchemy import select

from tests.review.conftest import free_port, invite_token, new_campaign, pairwise_items, start_server
from tunewise.review.db import Vote, transaction


def _reviewer(base: str, token: str) -> tuple[httpx.Client, dict]:
    client = httpx.Client(base_url=base, timeout=10)
    client.get(f"/login?token={token}", follow_redirects=True)
    return client, {"X-CSRF-Token": client.get("/api/session").json()["csrf"]}


def test_sigkill_mid_campaign_loses_no_acknowledged_vote(sqlite_url):
    new_campaign(sqlite_url, items=pairwise_items(400), per_item=1)
    tokens = [invite_token(sqlite_url, "c", name) for name in ("ann", "bob", "cyd")]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(sqlite_url, port)
    acknowledged: dict[str, tuple[str, int]] = {}  # assignment -> (reviewer's token, vote id)
    lock = threading.Lock()

    def vote_until_the_server_dies(token: str) -> None:
        client, headers = _reviewer(base, token)
        try:
            while True:
                handed = client.get("/api/next")
                assert handed.status_code == 200, handed.text
                assignment = handed.json()["assignment"]
                answer = client.post(
                    "/api/votes", json={"assignment": assignment, "answer": {"choice": "A"}}, headers=headers
                )
                assert answer.status_code == 200, answer.text
                with lock:
                    acknowledged[assignment] = (token, answer.json()["vote"])
        except (httpx.TransportError, ValueError):  # the server is gone mid-request: that vote was not acknowledged
            return

    voters = [threading.Thread(target=vote_until_the_server_dies, args=(t,)) for t in tokens]
    for voter in voters:
        voter.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 60 and time.monotonic() < deadline and any(v.is_alive() for v in voters):
        time.sleep(0.01)
    assert len(acknowledged) >= 60, "the reviewers stopped voting before the kill"
    server.send_signal(signal.SIGKILL)
    server.wait()
    for voter in voters:
        voter.join()

    with transaction(sqlite_url) as db:
        stored = dict(db.execute(select(Vote.id, Vote.assignment_id)).all())
    assert {vote for _, vote in acknowledged.values()} <= set(stored)  # nothing acknowledged is lost
    assert len(stored) >= 60

    server = start_server(sqlite_url, port)  # restarted: a resubmit is recognised and voting goes on
    try:
        client, headers = _reviewer(base, tokens[0])
        assignment, vote_id = next((a, vote) for a, (token, vote) in acknowledged.items() if token == tokens[0])
        again = client.post("/api/votes", json={"assignment": assignment, "answer": {"choice": "A"}}, headers=headers)
        assert again.json() == {"vote": vote_id, "stored": True, "repeated": True}
        changed = client.post("/api/votes", json={"assignment": assignment, "answer": {"choice": "B"}}, headers=headers)
        assert changed.status_code == 409 and "another answer" in changed.json()["detail"]
        nxt = client.get("/api/next").json()["assignment"]
        assert (
            client.post("/api/votes", json={"assignment": nxt, "answer": {"choice": "tie"}}, headers=headers).json()[
                "repeated"
            ]
            is False
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
