"""A new user's first ten minutes: a multi-turn ShareGPT file and an Alpaca JSON array (examples/your-data) go from
`init --data` to a report in three commands each, with the written config used as it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tunewise.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "your-data"


@pytest.mark.parametrize(("name", "task"), [("sharegpt_banking.jsonl", "chat"), ("alpaca_banking.json", "chat")])
def test_a_users_file_reaches_a_report_in_three_commands(tmp_path, tiny_model_dir, name, task, monkeypatch):
    data = Path(shutil.copy(SHIPPED / name, tmp_path / name))
    monkeypatch.chdir(tmp_path)
    before = data.read_bytes()
    assert main(["init", "tunewise.yaml", "--data", name, "--model", str(tiny_model_dir)]) == 0
    assert yaml.safe_load(Path("tunewise.yaml").read_text())["data"] == {"path": name, "task": task}
    assert main(["audit", name, "--config", "tunewise.yaml"]) in (0, 1)  # 1: findings to read, not a failure
    fast = ["train.max_steps=20", "eval.max_rows=30"]  # the same command, a shorter budget for the suite
    assert main(["run", "tunewise.yaml", *fast, "--out", "runs/first"]) in (0, 1)
    assert (tmp_path / "runs" / "first" / "report" / "report.html").is_file()
    assert data.read_bytes() == before  # the user's file is never modified
