"""`tunewise init --data`: the task and columns read from the user's file, a short config that runs, the
examples as the model sees them, and a clear line when the file does not say what it is."""

from __future__ import annotations

import csv
import json

import yaml

from tunewise.cli import main
from tunewise.config import load_config


def write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_banking_csv_becomes_classification_with_its_label_column(tmp_path, capsys):
    rows = [(f"where is my card number {n}", "card_arrival" if n % 2 else "lost_card") for n in range(30)]
    data = write_csv(tmp_path / "train.csv", ["text", "category"], rows)
    assert main(["init", str(tmp_path / "cfg.yaml"), "--data", str(data)]) == 0
    written = yaml.safe_load((tmp_path / "cfg.yaml").read_text())
    assert written == {
        "name": "train",
        "data": {"path": "train.csv", "task": "classification", "columns": {"label": "category"}},
        "model": {"name": "auto"},
    }
    assert load_config(tmp_path / "cfg.yaml").data.columns == {"label": "category"}  # a config that loads
    out = " ".join(capsys.readouterr().out.split())
    assert "30 rows of classification data" in out and "where is my card number 0" in out and "→ lost_card" in out


def test_closed_set_answers_are_offered_as_classification(tmp_path, capsys):
    rows = [
        {"question": f"route this request number {n}", "answer": ["billing", "tech", "sales"][n % 3]}
        for n in range(240)
    ]
    data = tmp_path / "routes.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["init", str(tmp_path / "cfg.yaml"), "--data", str(data)]) == 0
    written = yaml.safe_load((tmp_path / "cfg.yaml").read_text())
    assert written["data"]["task"] == "classification"
    assert written["data"]["columns"] == {"text": "question", "label": "answer"}
    assert "closed set (3 distinct answers over 240 rows)" in " ".join(capsys.readouterr().err.split())


def test_a_decoder_sees_the_chat_rendered_prompt_with_the_loss_tokens_marked(tmp_path, tiny_model_dir, capsys):
    rows = [
        {"dialogue": f"A: my card {n} is lost. B: I will block it.", "summary": f"Card {n} blocked."} for n in range(5)
    ]
    data = tmp_path / "dialogsum.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    argv = ["init", str(tmp_path / "cfg.yaml"), "--data", str(data), "--model", str(tiny_model_dir)]
    assert main(argv) == 0
    written = yaml.safe_load((tmp_path / "cfg.yaml").read_text())
    assert written["data"] == {
        "path": "dialogsum.jsonl",
        "task": "completion",
        "columns": {"prompt": "dialogue", "completion": "summary"},
    }
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("── example") == 3 and "<|im_start|>assistant" in out and "Card 0 blocked." in out


def test_a_file_that_does_not_say_its_task_is_one_line_naming_its_columns(tmp_path, capsys):
    data = tmp_path / "numbers.jsonl"
    data.write_text('{"a": 1, "b": 2}\n{"a": 3, "b": 4}\n')
    assert main(["init", str(tmp_path / "cfg.yaml"), "--data", str(data)]) == 2
    error = capsys.readouterr().err.strip()
    assert "cannot tell the task from columns ['a', 'b']" in error and "\n" not in error
    assert not (tmp_path / "cfg.yaml").exists()


def test_classification_data_with_a_decoder_shows_what_its_head_reads_not_a_chat(tmp_path, tiny_model_dir, capsys):
    rows = [(f"where is my card number {n}", "card_arrival" if n % 2 else "lost_card") for n in range(30)]
    data = write_csv(tmp_path / "train.csv", ["text", "category"], rows)
    argv = ["init", str(tmp_path / "cfg.yaml"), "--data", str(data), "--model", str(tiny_model_dir)]
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "with a classification head reads the text and learns its label:" in out
    assert "where is my card number 0 → lost_card" in out
    assert "── example" not in out and "<|im_start|>" not in out  # no chat prompt: the head never sees one
