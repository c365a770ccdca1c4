"""The fintech story's script, fast: 6 Banking77 intents, the tiny test model, a few steps, 40 labels. It runs
every stage of examples/fintech/run.sh (the pool path included: pool select, a label campaign answered through the
review app's rules, curate --add-labelled, retrain) so the story cannot silently break; the real run is in
examples/fintech/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_fintech_story_runs_end_to_end(tiny_model_dir, tmp_path):
    out = tmp_path / "story"
    fast = (
        "train.max_steps=12 train.eval_steps=4 train.batch_size=4 train.learning_rate=0.01 model.max_length=64 "
        "eval.max_rows=60 "
        "eval.batch_size=16 select.probe_steps=4 select.validation_rows=20 select.prior_rows=10 "
        "select.latency_rows=2 curate.cap_per_class=80 curate.upsample_to=30"
    )
    environment = os.environ | {
        "FINTECH_INTENTS": "6",
        "FINTECH_OVERRIDES": fast,
        "FINTECH_CANDIDATES": f"[{tiny_model_dir}]",
        "FINTECH_BUDGET": "40",
        "TUNEWISE": str(Path(sys.executable).parent / "tunewise"),
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", str(REPO / "examples" / "fintech" / "run.sh"), str(out)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary) == {
        "raw_accuracy",
        "curated_accuracy",
        "gain",
        "ci_low",
        "ci_high",
        "p_value",
        "clean_accuracy",
        "rebalanced_accuracy",
        "recovered",
        "gain_from_rebalancing",
        "gain_from_cleaning",
        "pool",
        "by_intents",
        "minutes",
        "main_path_minutes",
        "minutes_by_stage",
        "verdict",
        "deciding",
        "verdict_before_labelling",
        "base_model",
    }
    pool = summary["pool"]
    assert pool["budget"] == 40 and pool["added"] + sum(pool["kept_out"].values()) + pool["dropped_by_curation"] == 40
    assert pool["picked_for"].get("thin", 0) > 0  # the skewed intents are thin: they get labels first
    assert 0 <= pool["suggestion_accuracy"] <= 1 and pool["ci_low"] <= pool["gain_over_random"] <= pool["ci_high"]
    before, after = (pool["skewed_distinct_inputs"][run]["median"] for run in ("curated", "labelled"))
    assert after > before  # new wordings of the thin intents reached the training split
    by_class = pool["distinct_inputs_by_class"]  # every intent: distinct inputs without and with the labels
    assert all(0 <= was <= now for was, now in by_class.values())
    assert 0 < sum(now - was for was, now in by_class.values()) <= pool["added"]
    items = [json.loads(line) for line in (out / "pool" / "labelled.items.jsonl").read_text().splitlines()]
    test_inputs = {" ".join(row["text"].lower().split()) for row in map(json.loads, (out / "test.jsonl").open())}
    assert not {" ".join(item["text"].lower().split()) for item in items} & test_inputs  # the leakage gate
    changes = [json.loads(line) for line in (out / "curated_labelled" / "changelog.jsonl").read_text().splitlines()]
    added = [change for change in changes if change["reason"] == "pool_label"]
    assert len(added) == pool["added"] and all(change["detail"]["reviewers"] == ["annotator"] for change in added)
    assert summary["verdict"] in ("go", "no-go") and summary["base_model"] == str(tiny_model_dir)
    rebalanced = json.loads((out / "runs" / "rebalanced" / "summary.json").read_text())
    assert summary["rebalanced_accuracy"] == pytest.approx(rebalanced["tuned"]["accuracy"], abs=1e-4)
    assert summary["gain_from_rebalancing"] == pytest.approx(summary["rebalanced_accuracy"] - summary["raw_accuracy"])
    for name in ("clean", "rebalanced"):  # the references: the same model and budget on other data
        assert f"name: {tiny_model_dir}" in (out / "runs" / name / "config.yaml").read_text()
    rebalanced_changes = (out / "rebalanced" / "changelog.jsonl").read_text()
    assert "_duplicate" not in rebalanced_changes and "label_issue" not in rebalanced_changes  # no cleaning
    assert summary["ci_low"] <= summary["gain"] <= summary["ci_high"]
    assert [name.split(" ")[0] for name in summary["minutes_by_stage"]] == [f"{n}/8" for n in range(1, 9)]
    assert 0 < summary["main_path_minutes"] <= summary["minutes"]
    groups = summary["by_intents"]
    scored = sum(group["test_rows"] for group in groups.values())
    assert scored == len((out / "runs" / "curated" / "evaluate" / "predictions.jsonl").read_text().splitlines())
    weighted = sum(group["curated"] * group["test_rows"] for group in groups.values()) / scored
    assert weighted == pytest.approx(summary["curated_accuracy"], abs=1e-3)  # the groups split the test rows
    tables = subprocess.run(
        [sys.executable, str(REPO / "examples" / "fintech" / "story.py"), "markdown", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"**{summary['curated_accuracy']:.3f}**" in tables and "| label noise |" in tables
    assert summary["gain"] == pytest.approx(summary["curated_accuracy"] - summary["raw_accuracy"], abs=1e-3)

    truth = json.loads((out / "raw.jsonl.truth.json").read_text())["faults"]
    assert {"skewed", "exact_duplicate", "near_duplicate", "label_noise", "boilerplate", "empty", "leakage"} <= set(
        truth
    )
    caught = json.loads((out / "caught.json").read_text())
    assert caught["exact_duplicate"]["flagged"] > 0.9 and caught["empty"]["changed_by_curation"] == 1.0
    # the exact-duplicate check flags whole groups (originals too): every copy, at under full precision
    assert caught["exact_duplicate"]["check_recall"] > 0.9 and 0.3 < caught["exact_duplicate"]["check_precision"] < 1
    test_rows = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert {row["intent_group"] for row in test_rows} == {"rare", "middle", "common"}

    comparison = json.loads((out / "runs" / "curated" / "baseline" / "comparison.json").read_text())
    groups = {s["value"] for s in comparison["slices"] if s["field"] == "intent_group"}
    assert groups == {"rare", "middle", "common"} and comparison["curation"]["rows_out"] > 0
    assert comparison["audits"]["baseline"]["flagged_rows"] > 0  # the raw data's audit, from the curation
    raw_config = (out / "runs" / "raw" / "config.yaml").read_text()
    curated_config = (out / "runs" / "curated" / "config.yaml").read_text()
    for setting in ("max_steps: 12", "batch_size: 4", "learning_rate: 0.01"):
        assert setting in raw_config and setting in curated_config  # the same budget and schedule
    assert (out / "runs" / "curated" / "select" / "selection.json").exists()
    page = (out / "runs" / "curated" / "report" / "report.html").read_text()
    assert "Against the baseline run" in page and "intent_group = rare" in page and "Base model" in page
    final_page = " ".join((out / "runs" / "labelled" / "report" / "report.html").read_text().split())
    assert "is ready: <code>fintech</code>" in final_page and "labelled vs raw" in final_page
    assert (
        "Labelled pool rows:" in final_page
        and "took the suggested label" in final_page
        and "Most new rows:" in final_page
        and "Distinct training inputs before → after, thinnest first:" in final_page
    )
    assert (out / "audit" / "audit.html").exists() and (out / "curated" / "changelog.jsonl").exists()
