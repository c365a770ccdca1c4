"""DPO through `tunewise run` on preference rows: the guards, the checkpoint and a preference accuracy that rises."""

import json

import pytest

from tests.conftest import TEXTS, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.pipeline import run
from tunewise.train.dpo import fit_preference_row


def preference_rows() -> list[dict]:
    """The chosen answer is always the query's own intent, the rejected one another intent: a learnable preference."""
    labels = list(TEXTS)
    rows = []
    for round_ in range(4):
        for i, (label, texts) in enumerate(TEXTS.items()):
            for text in texts:
                rows.append(
                    {
                        "prompt": f"{text} {'please' * round_}".strip(),
                        "chosen": label,
                        "rejected": labels[(i + 1 + round_ % 2) % len(labels)],
                    }
                )
    return rows


@pytest.fixture(scope="module")
def dpo_run(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dpo")
    write_jsonl(tmp / "pairs.jsonl", preference_rows())
    extra = "split:\n  validation: 0.2\n  test: 0.2\n  allow_small_holdout: true\naudit:\n  in_run: false\n"
    config = make_config(tmp, tiny_model_dir, "pairs.jsonl", extra)
    text = config.read_text().replace("max_steps: 6", "max_steps: 30").replace("eval_steps: 2", "eval_steps: 5")
    config.write_text(text)
    return run(load_config(config), tmp / "run"), tmp / "run"


def test_dpo_run_keeps_the_best_checkpoint_and_logs_reward_accuracy(dpo_run):
    summary, run_dir = dpo_run
    assert summary["task"] == "preference"
    assert (run_dir / "train" / "checkpoint" / "adapter_model.safetensors").is_file()
    log = [json.loads(line) for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines()]
    validation = [row for row in log if row["split"] == "validation"]
    assert len(validation) >= 2 and all(0 <= row["reward_accuracy"] <= 1 for row in validation)
    assert summary["train"]["best_step"] in {row["step"] for row in validation}


def test_dpo_raises_preference_accuracy_above_the_base_models(dpo_run):
    summary, run_dir = dpo_run
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    base, tuned = metrics["base"]["preference_accuracy"], metrics["tuned"]["preference_accuracy"]
    assert tuned > base and tuned >= 0.8, (base, tuned)
    assert metrics["comparison"]["metric"] == "preference_accuracy"
    assert summary["decision"]["verdict"] in {"go", "no-go"}
    assert (run_dir / "report" / "report.html").read_text().count("preference_accuracy") >= 1


def test_long_preference_rows_are_cut_to_fit_not_dropped(tiny_model_dir):
    from transformers import AutoTokenizer

    from tunewise.models.prompts import make_renderer

    renderer = make_renderer(AutoTokenizer.from_pretrained(tiny_model_dir))
    row = {"prompt": "where is my new card " * 40 + "LAST", "chosen": "card arrival " * 40, "rejected": "pin"}
    fitted, cut = fit_preference_row(renderer, row, max_length=64)
    assert cut and fitted["prompt"].endswith("LAST")
    prompt_ids = renderer.prompt_ids([{"role": "user", "content": fitted["prompt"]}])
    answer_ids = renderer.answer_ids([{"role": "user", "content": fitted["prompt"]}], fitted["chosen"])
    assert len(prompt_ids) <= 32 and len(prompt_ids) + len(answer_ids) <= 64
    assert fitted["rejected"] == "pin"
