"""Review fixtures: a database per test (SQLite file, or a database on a real PostgreSQL server that the fixture
starts on loopback), campaigns with distinctive system names, and logged-in test clients."""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import require
from tunewise.review.auth import invite
from tunewise.review.campaigns import create_campaign
from tunewise.review.db import transaction

SYSTEMS = ("zorblax-7b-secret", "quintessa-tuned-hidden")  # must never appear in what a reviewer receives


def pairwise_items(count: int, payload: str = "") -> list[dict]:
    return [
        {
            "id": f"item-{n}",
            "prompt": f"question {n} {payload}",
            "outputs": {SYSTEMS[0]: f"answer one to {n} {payload}", SYSTEMS[1]: f"answer two to {n} {payload}"},
            "meta": {"system_hint": SYSTEMS[0]},
        }
        for n in range(count)
    ]


def relabel_items(count: int) -> list[dict]:
    labels = ["card_arrival", "card_lost", "exchange_rate"]
    return [
        {
            "id": str(n),
            "text": f"text {n}",
            "label": labels[0],
            "suggested_label": labels[1],
            "labels": labels,
            "meta": {},
        }
        for n in range(count)
    ]


def label_items(count: int) -> list[dict]:
    """Unlabelled rows as `tunewise pool select` writes them: the suggestion first among three choices."""
    labels = ["card_arrival", "card_lost", "exchange_rate", "top_up"]
    return [
        {
            "id": str(n),
            "text": f"where is my new card {n}",
            "suggested_label": labels[0],
            "choices": labels[:3],
            "labels": labels,
            "meta": {"why": "thin", "scored_by": SYSTEMS[0]},
        }
        for n in range(count)
    ]


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'review.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """Each storage test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"review_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [server["createdb"], "-h", "127.0.0.1", "-p", str(server["port"]), "-U", "tunewise", name], check=True
    )
    return f"postgresql://tunewise@127.0.0.1:{server['port']}/{name}"


def missing_tool(what: str):
    require(False, what, f"apt-get install {what}; make test installs it as root")


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's binaries; run as the `postgres` user when we are root,
    since the server refuses to run as root)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        missing_tool("postgresql")
    bin_dir = Path(found[-1]).parent
    home = Path(tempfile.mkdtemp(prefix="tunewise-pg-"))  # not under pytest's root-only tmp: postgres must reach it
    data = home / "data"
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_user, bin_dir / "initdb", "-D", data, "-U", "tunewise", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    log = home / "server.log"
    subprocess.run(
        [
            *as_user,
            bin_dir / "pg_ctl",
            "-D",
            data,
            "-l",
            log,
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {home} -c fsync=on -c max_connections=200",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield {"port": port, "createdb": str(bin_dir / "createdb")}
    finally:
        subprocess.run([*as_user, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing_tool("chromium")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_campaign(url: str, name: str = "c", kind: str = "pairwise", items=None, per_item: int = 2, **kwargs) -> None:
    with transaction(url) as db:
        create_campaign(db, name, kind, items if items is not None else pairwise_items(4), per_item, **kwargs)


def invite_token(url: str, name: str, reviewer: str, admin: bool = False, days: float = 14) -> str:
    with transaction(url) as db:
        return invite(db, name, reviewer, admin=admin, days=days)


def logged_in(app, url: str, name: str, reviewer: str, admin: bool = False):
    """A TestClient with the session cookie of a freshly invited reviewer, and its CSRF token."""
    from fastapi.testclient import TestClient

    client = TestClient(app)
    assert client.get(f"/login?token={invite_token(url, name, reviewer, admin)}").status_code == 200
    return client, client.get("/api/session").json()["csrf"]


def form_fields(html: str) -> tuple[str, str]:
    """The assignment id in the vote form's action and the form's CSRF token."""
    assignment = re.search(r'action="/review/([0-9a-f]+)"', html).group(1)
    return assignment, re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def start_server(url: str, port: int):
    """`tunewise review serve` as a real process, once it answers."""
    import subprocess
    import sys
    import time

    import httpx

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
