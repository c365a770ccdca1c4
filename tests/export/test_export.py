"""`tunewise export`: the merged folder loads with plain transformers, answers as the run did, carries a model
card, and is put in place only when that check passes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from tests.conftest import LABELS
from tunewise.cli import main


@pytest.fixture(scope="module")
def runs(finished_runs):
    return finished_runs


def test_a_head_exports_as_a_plain_sequence_classifier_that_answers_as_the_run(runs, tmp_path, capsys):
    out = tmp_path / "merged"
    assert main(["export", str(runs["classify"]), "--out", str(out)]) == 0
    facts = json.loads((out / "export.json").read_text())
    evaluated_in = json.loads((runs["classify"] / "summary.json").read_text())["precision"]["eval"]
    assert (facts["kind"], facts["dtype"], facts["agreement"]) == ("classify", evaluated_in, 1.0)
    evaluated = [json.loads(line) for line in (runs["classify"] / "evaluate" / "predictions.jsonl").open()]
    assert facts["rows"] == len(evaluated)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()  # no tunewise, no PEFT
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert sorted(model.config.id2label.values()) == sorted(LABELS)
    with torch.no_grad():
        answers = [
            model.config.id2label[int(model(**tokenizer(r["input"], return_tensors="pt")).logits.argmax())]
            for r in evaluated
        ]
    assert answers == [r["tuned"] for r in evaluated]
    card = (out / "README.md").read_text()
    assert "## Verdict" in card and "## Test metrics" in card and "AutoModelForSequenceClassification" in card
    assert f"on {facts['rows']} test rows" in card
    assert "100.0% of" in " ".join(capsys.readouterr().out.split())


def test_a_generative_run_exports_merged_weights_with_its_chat_template(runs, tmp_path):
    out = tmp_path / "merged"
    assert main(["export", str(runs["generate"]), "--out", str(out), "--check-rows", "5"]) == 0
    facts = json.loads((out / "export.json").read_text())
    assert (facts["kind"], facts["rows"], facts["agreement"]) == ("generate", 5, 1.0)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged, not an adapter
    assert AutoTokenizer.from_pretrained(out).chat_template


def test_an_export_that_answers_differently_fails_and_leaves_nothing(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["classify"], run)
    predictions = run / "evaluate" / "predictions.jsonl"
    rows = [json.loads(line) for line in predictions.open()]
    for row in rows[::2]:  # half the run's recorded answers changed: the export cannot agree with them
        row["tuned"] = next(label for label in LABELS if label != row["tuned"])
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "merged"
    assert main(["export", str(run), "--out", str(out)]) == 1
    assert "under the required 99.5%" in " ".join(capsys.readouterr().err.split())
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary left either
    assert main(["export", str(run), "--out", str(out), "--min-agreement", "0.3"]) == 0  # lowered knowingly


def test_bad_requests_are_one_line_errors(runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "merged"
    out.mkdir()
    assert main(["export", str(runs["classify"]), "--out", str(out)]) == 2
    assert "exists; give a new folder, or --force" in capsys.readouterr().err
    (out / "old.txt").write_text("x")
    assert main(["export", str(runs["classify"]), "--out", str(out), "--force"]) == 2  # not an earlier export
    assert "holds files that are not an earlier export" in capsys.readouterr().err
    (out / "old.txt").unlink()
    assert main(["export", str(runs["classify"]), "--out", str(out), "--force", "--check-rows", "3"]) == 0
    (out / "old.txt").write_text("x")  # an earlier export, with a file added: replaced as a whole
    assert main(["export", str(runs["classify"]), "--out", str(out), "--force", "--check-rows", "3"]) == 0
    assert not (out / "old.txt").exists() and (out / "model.safetensors").exists()
    assert main(["export", str(runs["classify"]), "--out", str(runs["classify"].parent), "--force"]) == 2
    assert "holds the input" in capsys.readouterr().err
    monkeypatch.chdir(out)
    assert main(["export", str(runs["classify"]), "--out", ".", "--force"]) == 2
    assert "the current folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "not a tunewise run directory" in capsys.readouterr().err
    stale = tmp_path / "stale"  # predictions that answer other rows than the split's (a split written again)
    shutil.copytree(runs["classify"], stale)
    lines = (stale / "evaluate" / "predictions.jsonl").read_text().splitlines()
    (stale / "evaluate" / "predictions.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    assert main(["export", str(stale), "--out", str(tmp_path / "y")]) == 2
    assert "not the answers to the run's test split" in capsys.readouterr().err
    unevaluated = tmp_path / "unevaluated"
    shutil.copytree(runs["classify"], unevaluated)
    (unevaluated / "evaluate" / "predictions.jsonl").unlink()
    assert main(["export", str(unevaluated), "--out", str(tmp_path / "y")]) == 2
    assert "the run was not evaluated" in capsys.readouterr().err
    shutil.rmtree(unevaluated / "train" / "checkpoint")
    assert main(["export", str(unevaluated), "--out", str(tmp_path / "y")]) == 2
    assert "training did not finish" in capsys.readouterr().err


def test_gguf_formats_refuse_heads_and_mismatched_options_and_report_converter_failures(
    runs, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "gguf"
    assert main(["export", str(runs["classify"]), "--format", "gguf", "--out", str(out)]) == 2
    assert "GGUF does not carry" in " ".join(capsys.readouterr().err.split())
    assert main(["export", str(runs["generate"]), "--format", "gguf", "--dtype", "bf16", "--out", str(out)]) == 2
    assert "--dtype applies to --format merged" in capsys.readouterr().err
    assert main(["export", str(runs["generate"]), "--quant", "q8_0", "--out", str(out)]) == 2
    assert "--quant applies to --format gguf" in capsys.readouterr().err
    # llama.cpp's converter knows real tokenizers by a hash of their pre-tokenizer; the fixture's is unknown to it
    assert main(["export", str(runs["generate"]), "--format", "ollama", "--out", str(out)]) == 2
    assert "llama.cpp's converter failed on this model" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setenv("TUNEWISE_GGUF_CONVERTER", str(tmp_path))
    monkeypatch.setenv("TUNEWISE_CACHE", str(tmp_path / "cache"))
    assert main(["export", str(runs["generate"]), "--format", "gguf", "--out", str(out)]) == 2
    assert "pip install --no-deps --target" in " ".join(capsys.readouterr().err.split())
