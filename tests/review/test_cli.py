"""`tunewise review ...` end to end through the CLI: create, invite, vote, results, export, curate the patch."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import write_jsonl
from tests.review.conftest import SYSTEMS, pairwise_items, relabel_items
from tunewise.cli import main
from tunewise.review.app import create_app


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _login(app, url: str) -> tuple[TestClient, str]:
    client = TestClient(app)
    path = url.split("8765", 1)[1]
    assert client.get(path).status_code == 200
    return client, client.get("/api/session").json()["csrf"]


def test_pairwise_campaign_from_the_cli_to_dpo_rows(tmp_path, capsys, sqlite_url):
    items = tmp_path / "items.jsonl"
    write_jsonl(items, pairwise_items(3))
    db = ["--db", sqlite_url]
    assert _cli(capsys, "review", "create", "c", "--kind", "pairwise", "--items", str(items), *db)[0] == 0
    code, out, _ = _cli(capsys, "review", "invite", "c", "--reviewer", "ann", "--admin", *db)
    assert code == 0 and out.strip().splitlines()[-1].startswith("http://127.0.0.1:8765/login?token=")
    client, csrf = _login(create_app(sqlite_url), out.strip().splitlines()[-1])
    for choice in ("A", "tie", "B"):
        assignment = client.get("/api/next").json()["assignment"]
        client.post(
            "/api/votes", json={"assignment": assignment, "answer": {"choice": choice}}, headers={"X-CSRF-Token": csrf}
        )
    code, out, _ = _cli(
        capsys, "review", "results", "c", "--json", "--out", str(tmp_path / "run" / "review" / "results.json"), *db
    )
    found = json.loads(out)
    assert code == 0 and found["votes"] == 3 and found["outcomes"] == {"decisive": 2, "tie": 1, "both_bad": 0}
    assert json.loads((tmp_path / "run" / "review" / "results.json").read_text()) == found
    code, out, _ = _cli(capsys, "review", "results", "c", *db)
    assert "Bradley" in out and "Wilson" in out and SYSTEMS[0][:7] in out
    preferences = tmp_path / "prefs.jsonl"
    assert _cli(capsys, "review", "export", "c", "--preferences", str(preferences), *db)[0] == 0
    rows = [json.loads(line) for line in preferences.read_text().splitlines()]
    assert len(rows) == 2 and all(set(r) >= {"prompt", "chosen", "rejected"} for r in rows)
    assert "c " in _cli(capsys, "review", "list", *db)[1] + " "


def test_relabel_campaign_patch_is_applied_by_curate(tmp_path, capsys, sqlite_url):
    data = tmp_path / "train.jsonl"
    arrival = [
        "where is my card",
        "my card never came",
        "card still not delivered",
        "when will the card arrive",
        "has my card been posted",
        "how long does delivery take",
    ]
    rates = [
        "what rate for euros",
        "exchange rate today",
        "why was my conversion so bad",
        "is the dollar rate fixed",
        "which rate do you apply abroad",
        "currency conversion fee or rate",
    ]
    write_jsonl(
        data,
        [{"text": t, "label": "card_arrival"} for t in arrival]
        + [{"text": t, "label": "exchange_rate"} for t in rates]
        + [{"text": t, "label": "card_lost"} for t in ("i lost my card", "my card was stolen", "cannot find my card")],
    )
    queue = tmp_path / "queue.jsonl"
    write_jsonl(queue, [{**item, "id": 3} for item in relabel_items(1)])  # row 3 of the data file
    db = ["--db", sqlite_url]
    _cli(capsys, "review", "create", "l", "--kind", "relabel", "--items", str(queue), "--per-item", "1", *db)
    url = _cli(capsys, "review", "invite", "l", "--reviewer", "ann", *db)[1].strip().splitlines()[-1]
    client, csrf = _login(create_app(sqlite_url), url)
    assignment = client.get("/api/next").json()["assignment"]
    client.post(
        "/api/votes", json={"assignment": assignment, "answer": {"label": "card_lost"}}, headers={"X-CSRF-Token": csrf}
    )
    patch = tmp_path / "patch.jsonl"
    assert _cli(capsys, "review", "export", "l", "--patch", str(patch), *db)[0] == 0
    assert json.loads(patch.read_text()) == {
        "row": "3",
        "from": "card_arrival",
        "to": "card_lost",
        "votes": 1,
        "agreeing": 1,
    }
    code, _, err = _cli(capsys, "curate", str(data), "--out", str(tmp_path / "cur"), "--relabel-patch", str(patch))
    assert code in (0, 1), err
    curated = [json.loads(line) for line in (tmp_path / "cur" / "curated.jsonl").read_text().splitlines()]
    assert sum(row["label"] == "card_lost" for row in curated) == 4
    changelog = [json.loads(line) for line in (tmp_path / "cur" / "changelog.jsonl").read_text().splitlines()]
    assert any(c["reason"] == "human_review" and c["detail"]["to"] == "card_lost" for c in changelog)
    patch.write_text(json.dumps({"row": 3, "from": "exchange_rate", "to": "card_lost"}) + "\n")
    code, _, err = _cli(capsys, "curate", str(data), "--out", str(tmp_path / "cur2"), "--relabel-patch", str(patch))
    assert code == 2 and "patch.jsonl:1: field 'from': row 3 is labelled 'card_arrival'" in err
    assert not (tmp_path / "cur2" / "curated.jsonl").exists()
    change = {"row": 3, "from": "card_arrival", "to": "card_lost"}
    for lines, message in (
        ([change | {"to": "no_such_intent"}], "field 'to': 'no_such_intent' is not a label of the data"),
        ([change | {"to": "exchange_rate"}, change | {"to": "exchange_rate"}], "patch.jsonl:2: field 'row': row 3 is"),
        ([{"row": 3, "from": "card_arrival"}], "patch.jsonl:1: field 'to': missing"),
    ):
        write_jsonl(patch, lines)
        code, _, err = _cli(capsys, "curate", str(data), "--out", str(tmp_path / "cur3"), "--relabel-patch", str(patch))
        assert code == 2 and message in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["review", "results", "nope"], "unknown campaign 'nope'"),
        (["review", "create", "x", "--kind", "pairwise", "--items", "missing.jsonl"], "missing.jsonl: file not found"),
        (["review", "create", "x", "--kind", "rating", "--from-run", "."], "--from-run makes a pairwise campaign"),
        (["review", "invite", "nope", "--reviewer", "a"], "unknown campaign"),
        (["review", "list", "--db", "mysql://x/y"], "unsupported database 'mysql'"),
        (["review", "invite", "c", "--reviewer", "a", "--days", "1e9"], "--days must be more than 0 and at most 3650"),
        (["review", "list", "--db", "no/such/review.db"], "--db: no review database at no/such/review.db"),
        (["review", "results", "c", "--out", "."], "is a folder; give a file name"),
        (["review", "export", "c", "--preferences", "{db}"], "this is an input of the command"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, sqlite_url, tmp_path):
    items = write_jsonl(tmp_path / "items.jsonl", pairwise_items(2))
    assert main(["review", "create", "c", "--kind", "pairwise", "--items", str(items), "--db", sqlite_url]) == 0
    capsys.readouterr()
    argv = [part.format(db=sqlite_url.removeprefix("sqlite:///")) for part in argv]
    if "--db" not in argv:
        argv = [*argv, "--db", sqlite_url]
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_malformed_items_file_names_the_line_and_stores_nothing(tmp_path, capsys, sqlite_url):
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(pairwise_items(1)[0]) + "\n" + '{"id": 2, "prompt": "p", "outputs": {"a": 1}}\n')
    code, _, err = _cli(
        capsys, "review", "create", "c", "--kind", "pairwise", "--items", str(items), "--db", sqlite_url
    )
    assert code == 2 and "items.jsonl:2: field 'outputs'" in err
    assert "c " not in _cli(capsys, "review", "list", "--db", sqlite_url)[1]


def test_a_rating_campaign_takes_its_rubric_from_a_yaml_file(tmp_path, capsys, sqlite_url):
    items = write_jsonl(tmp_path / "items.jsonl", pairwise_items(1))
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(
        "- name: accuracy\n  question: Is the intent right?\n  anchors: [Wrong, Unclear, Close, Right, Exactly right]\n"
    )
    argv = ["review", "create", "r", "--kind", "rating", "--items", str(items), "--db", sqlite_url]
    assert _cli(capsys, *argv, "--rubric", str(rubric))[0] == 0
    client, csrf = _login(
        create_app(sqlite_url),
        _cli(capsys, "review", "invite", "r", "--reviewer", "ann", "--db", sqlite_url)[1].strip().splitlines()[-1],
    )
    page = client.get("/review").text
    assert "Is the intent right?" in page and "Exactly right" in page and "Relevance" not in page
    rubric.write_text("- name: accuracy\n  question: q\n  anchors: [1, 2]\n")
    code, _, err = _cli(capsys, *argv[:2], "r2", *argv[3:], "--rubric", str(rubric))
    assert code == 2 and "rubric.yaml: rubric: criterion 1: field 'anchors' must list 5 descriptions" in err


def test_a_run_whose_answers_never_differ_makes_no_campaign(tmp_path, capsys, sqlite_url):
    (tmp_path / "run" / "evaluate").mkdir(parents=True)
    write_jsonl(tmp_path / "run" / "evaluate" / "predictions.jsonl", [{"input": "q", "base": "a", "tuned": "a"}])
    code, _, err = _cli(
        capsys, "review", "create", "c", "--kind", "pairwise", "--from-run", str(tmp_path / "run"), "--db", sqlite_url
    )
    assert code == 2 and "nothing to compare" in err
    assert "c " not in _cli(capsys, "review", "list", "--db", sqlite_url)[1]
    assert not (tmp_path / "run" / "review").exists()


def test_a_listing_of_a_missing_database_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _cli(capsys, "review", "list", "--db", "typo.db")[0] == 2
    assert not (tmp_path / "typo.db").exists()


def test_serving_on_a_port_in_use_is_a_one_line_error(capsys, sqlite_url):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, _, err = _cli(capsys, "review", "serve", "--port", str(port), "--db", sqlite_url)
    assert code == 2 and f"--port {port}: cannot listen there" in err and len(err.strip().splitlines()) == 1
