"""From a finished run to its report: a campaign of the run's test predictions, blind votes, results in the
go/no-go page."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.config import load_config
from tunewise.pipeline import run
from tunewise.report import write_report
from tunewise.review.app import create_app


def test_campaign_from_a_run_and_its_results_in_the_report(tiny_model_dir, tmp_path, sqlite_url, capsys):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    run_dir = tmp_path / "run"
    run(load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl")), run_dir)
    assert "No human review for this run" in (
        write_report(run_dir) and (run_dir / "report" / "report.html").read_text()
    )

    predictions_file = run_dir / "evaluate" / "predictions.jsonl"
    predictions = [json.loads(line) for line in predictions_file.read_text().splitlines()]
    for prediction in predictions:  # a tiny random model answers the same before and after: make them differ
        prediction["base"] = f"base says {prediction['base']}"
    write_jsonl(predictions_file, predictions)
    assert main(["review", "create", "bvt", "--kind", "pairwise", "--from-run", str(run_dir), "--db", sqlite_url]) == 0
    page = write_report(run_dir) and (run_dir / "report" / "report.html").read_text()
    assert "is ready: <code>bvt</code>" in page and f"tunewise review serve --db {sqlite_url}" in page
    tuned_answer = {p["input"]: p["tuned"] for p in predictions}

    app = create_app(sqlite_url)
    for reviewer in ("ann", "bob"):
        main(["review", "invite", "bvt", "--reviewer", reviewer, "--db", sqlite_url])
        link = capsys.readouterr().out.strip().splitlines()[-1]
        client = TestClient(app)
        client.get(link.split("8765", 1)[1])
        csrf = client.get("/api/session").json()["csrf"]
        while (item := client.get("/api/next").json()) is not None:
            left, right = (r["text"] for r in item["responses"])
            tuned = tuned_answer[item["prompt"]]  # this test knows the answers; the page does not say
            choice = "A" if left == tuned else "B"
            client.post(
                "/api/votes",
                json={"assignment": item["assignment"], "answer": {"choice": choice}},
                headers={"X-CSRF-Token": csrf},
            )

    results = run_dir / "review" / "results.json"
    assert main(["review", "results", "bvt", "--db", sqlite_url, "--out", str(results)]) == 0
    assert json.loads(results.read_text())["votes"] == 2 * len(predictions)
    written = write_report(run_dir)
    page = (run_dir / "report" / "report.html").read_text()
    assert "Campaign <code>bvt</code> (pairwise, blind)" in page and "Krippendorff" in page
    assert "Bradley-Terry" in page and "95 % Wilson" in page
    markdown = (run_dir / "report" / "report.md").read_text()
    assert "| tuned |" in markdown and "| base |" in markdown
    human = next(c for c in written["data"]["decision"]["checks"] if c["check"] == "human_review")
    votes = 2 * len(predictions)
    assert human["passed"] and f"preferred the tuned model in {votes} of {votes} decisive votes" in human["message"]
