"""A run killed with SIGKILL mid-training resumes from its last checkpoint and ends as an uninterrupted run."""

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.errors import TunewiseError
from tunewise.pipeline import run

KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from transformers import Trainer

    save = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        save(self, *args, **kwargs)
        if self.state.global_step == 4:  # mid-run, right after a checkpoint: as hard as a kill gets
            os.kill(os.getpid(), signal.SIGKILL)

    Trainer._save_checkpoint = save_then_die
    from tunewise.config import load_config
    from tunewise.pipeline import run

    run(load_config(Path(sys.argv[1])), Path(sys.argv[2]))
    """
)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_killed_run_resumes_and_ends_like_an_uninterrupted_one(tiny_model_dir, tmp_path, monkeypatch):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", "audit:\n  in_run: false\n")
    config.write_text(
        config.read_text()
        .replace("max_steps: 6", "max_steps: 8")
        .replace("learning_rate: 0.01", "learning_rate: 0.003")
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(config), str(tmp_path / "killed")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (tmp_path / "killed").exists(), "an unfinished run is never in the run's place"
    partial = tmp_path / ".killed.partial"
    assert (partial / "train" / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file()

    from transformers import Trainer

    steps_taken = []
    training_step = Trainer.training_step
    monkeypatch.setattr(
        Trainer, "training_step", lambda self, *a, **k: steps_taken.append(1) or training_step(self, *a, **k)
    )
    cfg = load_config(config)
    resumed = run(cfg, tmp_path / "killed", resume=True)
    assert len(steps_taken) == 4, "steps 5-8 only: the first four come from the checkpoint"
    straight = run(cfg, tmp_path / "straight")
    assert resumed["train"]["steps"] == straight["train"]["steps"] == 8
    timing = {
        "seconds",
        "examples_per_second",
        "tokens_per_second",
        "time_split",
    }  # wall clock: a resumed run times its own part
    assert resumed["tuned"] == straight["tuned"]
    assert {k: v for k, v in resumed["train"].items() if k not in timing} == {
        k: v for k, v in straight["train"].items() if k not in timing
    }
    assert resumed["train"]["examples_per_second"] is None  # no rate from the steps this process did not take
    resumed_log, straight_log = (
        rows(tmp_path / "killed" / "train" / "metrics.jsonl"),
        rows(tmp_path / "straight" / "train" / "metrics.jsonl"),
    )
    assert [r["step"] for r in resumed_log] == [r["step"] for r in straight_log]
    for a, b in zip(resumed_log, straight_log, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert not partial.exists()
    report = (tmp_path / "killed" / "report" / "report.html").read_text()
    assert str(tmp_path / "killed") in report and ".partial" not in report, "the report names the run's own place"


def test_resume_refuses_a_changed_config_or_a_folder_with_no_interrupted_run(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", "audit:\n  in_run: false\n")
    with pytest.raises(TunewiseError, match="no interrupted run"):
        run(load_config(config), tmp_path / "nothing", resume=True)
    run(load_config(config), tmp_path / "done")
    with pytest.raises(TunewiseError, match=r"no interrupted run \(it finished"):
        run(load_config(config), tmp_path / "done", resume=True)
    (tmp_path / "done").rename(tmp_path / ".done.partial")  # as if killed after its last stage
    with pytest.raises(TunewiseError, match=r"differs from the interrupted run's \(train.learning_rate\)"):
        run(load_config(config, ["train.learning_rate=0.5"]), tmp_path / "done", resume=True)


def test_a_run_interrupted_after_training_resumes_without_training_again(tiny_model_dir, tmp_path, monkeypatch):
    """Also a run interrupted in its own place, as runs were built before they were built aside."""
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", "audit:\n  in_run: false\n")
    finished = run(load_config(config), tmp_path / "old")
    (tmp_path / "old" / "summary.json").unlink()  # interrupted during evaluation
    from transformers import Trainer

    monkeypatch.setattr(Trainer, "train", lambda *a, **k: pytest.fail("trained again"))
    resumed = run(load_config(config), tmp_path / "old", resume=True)
    assert resumed["train"] == finished["train"] and resumed["tuned"] == finished["tuned"]
    assert (tmp_path / "old" / "summary.json").is_file() and not (tmp_path / ".old.partial").exists()


def test_a_run_that_fails_before_training_leaves_nothing_and_an_earlier_run_whole(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", "audit:\n  in_run: false\n")
    run(load_config(config), tmp_path / "run")
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with (tmp_path / "intents.jsonl").open("a") as data:
        data.write('{"text": "a row with no label"}\n')
    with pytest.raises(TunewiseError, match="field 'label'"):
        run(load_config(config), tmp_path / "run")
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == before
    assert not (tmp_path / ".run.partial").exists()
