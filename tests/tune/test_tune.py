"""`tunewise tune` on the tiny model: trials scored on validation only, one test read for the whole search, a
killed search resumed without repeating a finished trial, the noise-aware choice, and bad search ranges."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.config import load_config
from tunewise.tune import tune
from tunewise.tune.choose import choose

optuna = pytest.importorskip("optuna")  # the 'tune' extra

SPACE = """tune:
  trials: 3
  space:
    train.learning_rate: {low: 0.001, high: 0.03, log: true}
    train.lora.r: {choices: [4, 8]}
audit:
  in_run: false
"""


def search_config(tmp_path, tiny_model_dir, extra: str = SPACE):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    return make_config(tmp_path, tiny_model_dir, "intents.jsonl", extra)


def test_a_search_scores_trials_on_validation_and_opens_the_test_split_once(tiny_model_dir, tmp_path):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load_config(search_config(tmp_path, tiny_model_dir, SPACE + f"tracking:\n  mlflow: {store}\n"))
    found = tune(cfg, tmp_path / "search")
    trials = found["trials"]
    assert len(trials) == 3 and trials[0]["default"]
    # the config's own setting is trial 0 (r 16 is added to the choices to hold it)
    assert trials[0]["values"]["train.learning_rate"] == pytest.approx(0.01)
    assert trials[0]["values"]["train.lora.r"] == 16
    complete = [t for t in trials if t["state"] == "complete"]
    assert complete and all(0 <= t["score"] <= 1 and t["minutes"] > 0 for t in complete)
    assert found["decision"]["chosen"] in {t["number"] for t in complete}
    assert found["decision"]["reason"]
    search = tmp_path / "search"
    # the trials never read the test split: one test read in all, by the final run
    looks = [json.loads(line) for line in (search / "run" / "test_access.jsonl").read_text().splitlines()]
    assert len(looks) == 1 and looks[0]["command"] == "run"
    assert not list((search / "trials").rglob("test_access.jsonl"))
    assert not list((search / "trials").rglob("checkpoint")), "a scored trial's weights are not kept"
    chosen = json.loads((search / "tuning.json").read_text())["chosen_values"]
    ran = load_config(search / "run" / "config.yaml")
    assert ran.train.learning_rate == pytest.approx(chosen["train.learning_rate"])
    assert ran.train.lora.r == chosen.get("train.lora.r", 16)
    assert (search / "run" / "tune" / "tuning.json").is_file() and (search / "slice.png").is_file()
    report = (search / "run" / "report" / "report.html").read_text()
    assert "Hyperparameter search" in report and found["decision"]["reason"] in report
    # the search in MLflow: a parent run, each trial nested under it, and the final run too
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.tags["chosen_trial"] == str(found["decision"]["chosen"])
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in nested) == ["run", "trial 0", "trial 1", "trial 2"]
    final = next(r for r in nested if r.info.run_name == "run")
    assert final.data.tags["verdict"] == found["run"]["verdict"]


KILLED_SEARCH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import tunewise.tune as tuning

    score = tuning.tuned_answers
    scored = []

    def answers_then_die(*args, **kwargs):
        found = score(*args, **kwargs)
        scored.append(1)
        if len(scored) == 2:  # the second trial trained and is being scored: killed before it is recorded
            os.kill(os.getpid(), signal.SIGKILL)
        return found

    tuning.tuned_answers = answers_then_die
    from tunewise.config import load_config

    tuning.tune(load_config(Path(sys.argv[1])), Path(sys.argv[2]))
    """
)


def study_trials(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT number, state FROM trials ORDER BY number").fetchall()


def test_a_killed_search_resumes_from_its_study_without_repeating_a_finished_trial(tiny_model_dir, tmp_path):
    config = search_config(tmp_path, tiny_model_dir)
    out = tmp_path / "search"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SEARCH, str(config), str(out)], capture_output=True, text=True, timeout=600
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert study_trials(out / "study.db") == [(0, "COMPLETE"), (1, "RUNNING")]
    first = out / "trials" / "000" / "validation_scores.json"
    before = first.stat().st_mtime_ns
    found = tune(load_config(config), out)
    states = [t["state"] for t in found["trials"]]
    assert states[0] == "complete" and states[1] == "fail", "the interrupted trial is marked failed"
    assert states.count("complete") + states.count("pruned") == 3  # tune.trials finished trials in all
    assert first.stat().st_mtime_ns == before, "trial 0 was not run again"


def test_a_trial_trailing_the_median_stops_training_and_ends_pruned():
    from transformers import TrainerControl, TrainerState

    from tunewise.tune import ReportToTrial

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    state = TrainerState()
    for losses in ([0.5, 0.4], [0.45, 0.35]):  # two earlier trials set the median at each step
        trial = study.ask()
        for step, loss in enumerate(losses, 1):
            state.global_step = step
            ReportToTrial(trial).on_evaluate(None, state, TrainerControl(), metrics={"eval_loss": loss})
        study.tell(trial, -losses[-1])
    state.global_step = 1
    leading, control = ReportToTrial(study.ask()), TrainerControl()
    leading.on_evaluate(None, state, control, metrics={"eval_loss": 0.3})
    assert leading.pruned_at is None and not control.should_training_stop
    study.tell(leading.trial, -0.3)
    lagging, control = ReportToTrial(study.ask()), TrainerControl()
    lagging.on_evaluate(None, state, control, metrics={"eval_loss": 2.0})
    assert lagging.pruned_at == 1 and control.should_training_stop  # the Trainer stops at this step


def rows_scoring(share: float, n: int = 400, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(x) for x in (rng.random(n) < share)]


def changed(scores: list[float], up: int, down: int, offset: int = 0) -> list[float]:
    """``scores`` with ``up`` wrong rows made right and ``down`` right rows made wrong (spread over the rows)."""
    found = list(scores)
    wrong = [i for i, s in enumerate(found) if s == 0][offset:]
    right = [i for i, s in enumerate(found) if s == 1][offset:]
    for i in wrong[:: max(1, len(wrong) // up)][:up] if up else []:
        found[i] = 1.0
    for i in right[:: max(1, len(right) // down)][:down] if down else []:
        found[i] = 0.0
    return found


def test_the_best_is_kept_only_beyond_the_noise_of_the_default_and_of_cheaper_settings():
    base = rows_scoring(0.70)
    close = changed(base, up=12, down=8)  # +4 rows of 400, with rows lost and won: noise
    far = changed(base, up=50, down=5)  # +45 rows: real
    trials = [
        {"number": 0, "values": {"train.epochs": 3}, "score": np.mean(base), "minutes": 2.0, "default": True},
        {"number": 1, "values": {"train.epochs": 3}, "score": np.mean(close), "minutes": 2.0},
    ]
    kept = choose("classification", trials, {0: base, 1: close})
    assert kept["best"] == 1 and kept["chosen"] == 0 and "default is kept" in kept["reason"]
    trials.append({"number": 2, "values": {"train.epochs": 3}, "score": np.mean(far), "minutes": 2.0})
    beaten = choose("classification", trials, {0: base, 1: close, 2: far})
    assert beaten["chosen"] == 2 and "over the default" in beaten["reason"]
    lead = beaten["comparisons"][str(beaten["runner_up"])]
    assert beaten["runner_up"] == 1 and lead["ci_low"] <= lead["gain"] <= lead["ci_high"]
    assert beaten["reason"].endswith(
        f"the best leads the runner-up (trial 1) by {lead['gain']:+.3f} "
        f"(95 % CI {lead['ci_low']:+.3f} to {lead['ci_high']:+.3f}, {lead['metric']})"
    )
    cheaper = changed(far, up=6, down=10, offset=3)  # 4 rows below `far`, with rows lost and won
    trials.append({"number": 3, "values": {"train.epochs": 1}, "score": np.mean(cheaper), "minutes": 0.7})
    thrifty = choose("classification", trials, {0: base, 1: close, 2: far, 3: cheaper})
    assert thrifty["best"] == 2 and thrifty["chosen"] == 3 and "cheaper setting is kept" in thrifty["reason"]
    # the default scored best: a cheaper setting within its noise, but below it, is not kept
    lower = changed(base, up=8, down=12, offset=5)
    alone = [
        {"number": 0, "values": {"train.epochs": 3}, "score": np.mean(base), "minutes": 2.0, "default": True},
        {"number": 1, "values": {"train.epochs": 1}, "score": np.mean(lower), "minutes": 0.7},
    ]
    held = choose("classification", alone, {0: base, 1: lower})
    assert held["chosen"] == 0 and held["reason"].startswith("the default setting scored best on validation; ")


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("train.learning_rate: {low: 0.1, high: 0.001}", "tune.space.train.learning_rate: Value error, an empty or"),
        ("train.learning_rate: {low: 0.0, high: 0.1, log: true}", "a log range needs low > 0"),
        ("train.lora.r: {choices: []}", "tune.space.train.lora.r: Value error, choices is empty"),
        ("train.colour: {low: 1, high: 2}", "'train.colour' cannot be tuned (tunable: train.learning_rate"),
        ("train.epochs: {low: 1.5, high: 3}", "'train.epochs' takes whole numbers"),
        ("train.warmup_ratio: {low: 0.0, high: 1.0}", "tune.space.train.warmup_ratio: 1.0 is not a valid value"),
        ("train.encoder.learning_rate: {low: 1.0e-5, high: 1.0e-4}", "applies only to an encoder"),
    ],
)
def test_a_bad_search_range_is_a_one_line_config_error_naming_the_key(tmp_path, capsys, space, message):
    write_jsonl(tmp_path / "d.jsonl", classification_rows())
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  path: d.jsonl\nmodel:\n  name: smollm2-135m-instruct\ntune:\n  space:\n    {space}\n")
    assert main(["tune", str(config), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_a_generation_search_is_scored_by_rouge_l_on_validation(tiny_model_dir, tmp_path):
    words = ["card", "pin", "rate", "loan", "euro", "phone", "branch", "limit", "fee", "cash"]
    rows = [
        {"dialogue": f"#Person1#: my {a} and my {b}?\n#Person2#: ok {a}", "summary": f"they talk about {a} and {b}"}
        for a, b in ((words[i % 10], words[(i * 3 + 1) % 10]) for i in range(30))
    ]
    write_jsonl(tmp_path / "dialogues.jsonl", rows)
    extra = "split:\n  test: 0.2\ntune:\n  trials: 2\n  space:\n    train.learning_rate: {low: 0.0005, high: 0.01}\n"
    config = make_config(tmp_path, tiny_model_dir, "dialogues.jsonl", extra + "audit:\n  in_run: false\n")
    cfg = load_config(config, ["data.columns={prompt: dialogue, completion: summary}", "eval.compare_base=false"])
    found = tune(cfg, tmp_path / "search")
    assert found["metric"] == "rougeL" and found["task"] == "completion"
    scored = [t["score"] for t in found["trials"] if t["state"] == "complete"]
    assert scored and all(0 <= score <= 1 for score in scored)
    assert found["run"]["tuned"]["rougeL"] >= 0 and "rougeL_ci" in found["run"]["tuned"]


def test_trials_run_side_by_side_in_worker_processes_that_share_one_study(tiny_model_dir, tmp_path):
    # one trial per GPU where there are several; on this CPU two workers split its cores (tune.workers: 2)
    config = search_config(tmp_path, tiny_model_dir, SPACE.replace("trials: 3", "trials: 4\n  workers: 2"))
    found = tune(load_config(config), tmp_path / "search")
    trials = found["trials"]
    assert len(trials) == 4 and trials[0]["default"]
    assert all(t["state"] in ("complete", "pruned") for t in trials)
    assert sorted(t["worker"] for t in trials) == [0, 0, 1, 1], "each worker ran its share"
    with sqlite3.connect(tmp_path / "search" / "study.db") as db:
        spans = db.execute("SELECT number, datetime_start, datetime_complete FROM trials").fetchall()
    by_worker = {t["number"]: t["worker"] for t in trials}
    assert any(
        a_start < b_end and b_start < a_end
        for a, a_start, a_end in spans
        for b, b_start, b_end in spans
        if by_worker[a] == 0 and by_worker[b] == 1
    ), "the two workers' trials overlapped in time"
    search = tmp_path / "search"
    assert (search / "workers" / "0.log").is_file() and (search / "workers" / "1.log").is_file()
    looks = (search / "run" / "test_access.jsonl").read_text().splitlines()
    assert len(looks) == 1, "the workers never read the test split; the final run reads it once"


def test_tune_workers_below_one_is_a_config_error(tmp_path, capsys):
    write_jsonl(tmp_path / "d.jsonl", classification_rows())
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: d.jsonl\nmodel:\n  name: smollm2-135m-instruct\ntune:\n  workers: 0\n")
    assert main(["tune", str(config), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert "tune.workers" in err and "at least 1" in err and len(err.splitlines()) == 1


def test_the_trials_table_wraps_its_headers_in_a_narrow_terminal_instead_of_cutting_them():
    """The demo search's four encoder settings in an 80-column terminal (CI logs, a laptop's split pane): every
    header word and every figure is printed whole."""
    import io

    from rich.console import Console

    from tunewise.cli.tune import trials_table

    space = ["train.encoder.learning_rate", "train.encoder.epochs", "train.encoder.weight_decay", "train.warmup_ratio"]
    trials = [
        {
            "number": n,
            "default": n == 0,
            "state": state,
            "score": score,
            "minutes": 0.305,
            "values": dict(zip(space, (5e-05, 2, 0.01, 0.05), strict=True)),
        }
        for n, state, score in ((0, "complete", 0.9803921), (1, "pruned", None))
    ]
    found = {
        "metric": "accuracy",
        "validation_rows": 102,
        "space": {key: {} for key in space},
        "trials": trials,
        "decision": {"chosen": 0},
    }
    console = Console(file=io.StringIO(), width=80, record=True)
    console.print(trials_table(found))
    printed = console.export_text()
    assert "…" not in printed
    words = set(printed.split())
    assert {"learning", "rate", "epochs", "weight", "decay", "warmup", "ratio", "accuracy", "minutes"} <= words
    assert {"(default)", "(chosen)", "0.9804", "5e-05", "pruned"} <= words


def test_a_search_with_batch_size_auto_trains_each_trial_at_the_planned_batch(tiny_model_dir, tmp_path, capsys):
    space = "tune:\n  trials: 2\n  space:\n    train.learning_rate: {low: 0.001, high: 0.03, log: true}\n"
    config = search_config(tmp_path, tiny_model_dir, space + "audit:\n  in_run: false\n")
    found = tune(load_config(config, ["train.batch_size=auto", "train.gradient_accumulation=2"]), tmp_path / "s")
    assert [t["state"] for t in found["trials"]] == ["complete", "complete"]
    # (a trial given "auto" as its batch size fails in the Trainer's data loader; the trials resolve it first)
    ran = load_config(tmp_path / "s" / "run" / "config.yaml").train
    assert (ran.batch_size, ran.gradient_accumulation) == (16, 1)
    # searching the batch size while auto chooses it is a one-line config error naming the key
    searched = space.replace(
        "train.learning_rate: {low: 0.001, high: 0.03, log: true}", "train.batch_size: {choices: [4, 8]}"
    )
    config = search_config(tmp_path, tiny_model_dir, searched)
    capsys.readouterr()  # the search's own output above
    assert main(["tune", str(config), "train.batch_size=auto", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert "tune.space.train.batch_size: train.batch_size is auto" in err and len(err.splitlines()) == 1
