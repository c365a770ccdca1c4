"""The real server process: votes acknowledged before a SIGKILL are all there after a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import httpx
from sqlalchemy import select

from tests.review.conftest import free_port, invite_token, new_campaign, pairwise_items
from tunewise.review.db import Vote, transaction


def _serve(url: str, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "tunewise.cli", "review", "serve", "--db", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            httpx.get(f"http://127.0.0.1:{port}/static/review.css", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("the server did not start")


def _reviewer(base: str, token: str) -> tuple[httpx.Client, dict]:
    client = httpx.Client(base_url=base, timeout=10)
    client.get(f"/login?token={token}", follow_redirects=True)
    return client, {"X-CSRF-Token": client.get("/api/session").json()["csrf"]}


def test_sigkill_mid_campaign_loses_no_acknowledged_vote(sqlite_url):
    new_campaign(sqlite_url, items=pairwise_items(400), per_item=1)
    tokens = [invite_token(sqlite_url, "c", name) for name in ("ann", "bob", "cyd")]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(sqlite_url, port)
    acknowledged: dict[str, tuple[str, int]] = {}  # assignment -> (reviewer's token, vote id)
    lock = threading.Lock()

    def vote_until_the_server_dies(token: str) -> None:
        client, headers = _reviewer(base, token)
        try:
            while True:
                assignment = client.get("/api/next").json()["assignment"]
                answer = client.post(
                    "/api/votes", json={"assignment": assignment, "answer": {"choice": "A"}}, headers=headers
                )
                with lock:
                    acknowledged[assignment] = (token, answer.json()["vote"])
        except (httpx.TransportError, ValueError):  # the server is gone mid-request: that vote was not acknowledged
            return

    voters = [threading.Thread(target=vote_until_the_server_dies, args=(t,)) for t in tokens]
    for voter in voters:
        voter.start()
    while len(acknowledged) < 60:
        time.sleep(0.01)
    server.send_signal(signal.SIGKILL)
    server.wait()
    for voter in voters:
        voter.join()

    with transaction(sqlite_url) as db:
        stored = dict(db.execute(select(Vote.id, Vote.assignment_id)).all())
    assert {vote for _, vote in acknowledged.values()} <= set(stored)  # nothing acknowledged is lost
    assert len(stored) >= 60

    server = _serve(sqlite_url, port)  # restarted: a resubmit is recognised and voting goes on
    try:
        client, headers = _reviewer(base, tokens[0])
        assignment, vote_id = next((a, vote) for a, (token, vote) in acknowledged.items() if token == tokens[0])
        again = client.post("/api/votes", json={"assignment": assignment, "answer": {"choice": "B"}}, headers=headers)
        assert again.json() == {"vote": vote_id, "stored": True, "repeated": True}
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
