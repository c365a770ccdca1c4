"""Review app under load: concurrent reviewers voting through the JSON API of a real server process on 127.0.0.1.

Usage: .venv/bin/python benchmarks/review_load.py [--reviewers 20] [--votes 500] [--db URL] [--max-seconds 600]
       .venv/bin/python benchmarks/review_load.py --kind label --items 1000 --reviewers 10 --per-item 1 [--db URL]
Each reviewer logs in with an invite link and loops: ask for the next item, vote on it (pairwise: a verdict;
label: one of the shuffled suggestions, another label, none of these or unclear). A vote is acknowledged when the
server answers 200 with a new vote id. At the end the database is read directly: every acknowledged vote must be
stored (and in label mode every item labelled). The goal is a p95 vote latency under 100 ms with 20 reviewers on
a 2-core machine. Writes benchmarks/results/review_load-[label-]DATABASE.json (scripts/figures.py puts it in
docs/figures.md).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import make_url, select

from tunewise.review.auth import invite
from tunewise.review.campaigns import create_campaign
from tunewise.review.db import Vote, database_url, transaction
from tunewise.review.results import majority_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

CHOICES = ("A", "B", "tie", "both_bad")
LABELS = [f"intent_{n}" for n in range(77)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--votes", type=int, default=500, help="votes per reviewer")
    parser.add_argument("--per-item", type=int, default=2, help="reviewers per item")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--max-seconds", type=float, default=600, help="reviewers stop voting after this long")
    parser.add_argument("--kind", choices=["pairwise", "label"], default="pairwise", help="campaign kind")
    parser.add_argument("--items", type=int, help="label: items in the campaign (reviewers vote until none is left)")
    args = parser.parse_args()
    if args.kind == "label":
        args.votes = (args.items or 1000) * args.per_item  # at most: each reviewer stops when nothing is left

    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'review.db'}"
        tokens = set_up(url, args.reviewers, args.votes, args.per_item, args.kind, args.items)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tunewise.cli", "review", "serve", "--db", url, "--port", str(port)],
            stdout=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(base, server)
            figures = load(base, tokens, args.votes, time.monotonic() + args.max_seconds, args.kind)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with transaction(url) as db:
            stored = set(db.scalars(select(Vote.id)).all())
            if args.kind == "label":
                rows, counts = majority_labels(db, "load")
                unlabelled = (args.items or 1000) - len(rows)
    acknowledged = figures["acknowledged"]
    lost = len(acknowledged - stored)
    votes, nexts = np.array(figures["vote_ms"]), np.array(figures["next_ms"])
    print(
        f"{args.reviewers} reviewers x {args.votes} votes on {url.split(':')[0]}: "
        f"{len(acknowledged)} acknowledged in {figures['seconds']:.1f} s ({len(acknowledged) / figures['seconds']:.0f}"
        f" votes/s), {figures['errors']} errors, {figures['repeated']} repeated"
    )
    latency = {}
    for name, values in (("vote", votes), ("next item", nexts)):
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        print(f"{name:>9}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {values.max():.1f} ms")
        latency[name] = {
            key: round(float(v), 1)
            for key, v in zip(("p50", "p95", "p99", "max"), (p50, p95, p99, values.max()), strict=True)
        }
    database = make_url(database_url(url)).get_backend_name()
    measured = {
        "reviewers": args.reviewers,
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": lost,
        "errors": figures["errors"],
        "votes per second": round(len(acknowledged) / figures["seconds"], 1),
        "latency (ms)": latency,
    }
    if args.kind == "label":
        measured |= {"items": args.items or 1000, "items without a label answer": unlabelled, "answers": counts}
        print(f"{len(rows)} of {args.items or 1000} items answered ({counts}); {lost} acknowledged votes lost")
    record(
        f"review_load-{'label-' if args.kind == 'label' else ''}{database}",
        measured,
        note=(
            f"{args.reviewers} reviewers labelling {args.items or 1000} items, {args.per_item} per item"
            if args.kind == "label"
            else f"{args.reviewers} reviewers x {args.votes} votes, {args.per_item} per item"
        ),
    )
    complete = args.kind != "label" or unlabelled == 0
    return 0 if lost == 0 and figures["errors"] == 0 and complete else 1


def set_up(url: str, reviewers: int, votes: int, per_item: int, kind: str = "pairwise", count=None) -> list[str]:
    if kind == "label":
        items = [
            {
                "id": str(n),
                "text": f"customer query {n}",
                "suggested_label": LABELS[n % 77],
                "choices": [LABELS[n % 77], LABELS[(n + 1) % 77], LABELS[(n + 2) % 77]],
                "labels": LABELS,
            }
            for n in range(count or 1000)
        ]
    else:
        count = reviewers * votes // per_item + reviewers  # enough items for everyone's votes
        items = [
            {"id": str(n), "prompt": f"customer query {n}", "outputs": {"base": f"answer {n}", "tuned": f"better {n}"}}
            for n in range(count)
        ]
    with transaction(url) as db:
        create_campaign(db, "load", kind, [item | {"meta": {}} for item in items], per_item)
        return [invite(db, "load", f"reviewer-{n}") for n in range(reviewers)]


def answer(assignment: dict, rng: random.Random) -> dict:
    """A reviewer's answer: a pairwise verdict, or mostly one of a label item's suggestions."""
    if assignment["kind"] != "label":
        return {"choice": rng.choice(CHOICES)}
    roll = rng.random()
    if roll < 0.85:
        return {"label": rng.choice(assignment["choices"])}
    if roll < 0.93:
        return {"label": rng.choice(assignment["labels"])}
    return {"label": assignment["none"] if roll < 0.97 else assignment["unclear"]}


def load(base: str, tokens: list[str], votes: int, deadline: float, kind: str = "pairwise") -> dict:
    figures = {"acknowledged": set(), "vote_ms": [], "next_ms": [], "errors": 0, "repeated": 0}
    lock = threading.Lock()

    def reviewer(token: str, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get(f"/login?token={token}", follow_redirects=True)
            headers = {"X-CSRF-Token": client.get("/api/session").json()["csrf"]}
            for _ in range(votes):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                assignment = client.get("/api/next").json()
                asked = time.perf_counter()
                if assignment is None:
                    return
                body = {"assignment": assignment["assignment"], "answer": answer(assignment, rng)}
                response = client.post("/api/votes", json=body, headers=headers)
                done = time.perf_counter()
                with lock:
                    figures["next_ms"].append((asked - started) * 1000)
                    figures["vote_ms"].append((done - asked) * 1000)
                    if response.status_code != 200:
                        figures["errors"] += 1
                    elif response.json()["repeated"]:
                        figures["repeated"] += 1
                    else:
                        figures["acknowledged"].add(response.json()["vote"])

    threads = [threading.Thread(target=reviewer, args=(t, n)) for n, t in enumerate(tokens)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures["seconds"] = time.monotonic() - started
    return figures


def wait_for(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            httpx.get(f"{base}/static/review.css", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
