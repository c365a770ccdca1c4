"""DPO through `tunewise run` on preference rows: the guards, the checkpoint and a preference accuracy that rises."""

import json

import pytest

from tests.conftest import LABELS, LEARNING_SPLIT, TEXTS, intent_rows, write_jsonl
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


def intent_preference_rows() -> list[dict]:
    """216 distinct prompts (`intent_rows`), chosen = the prompt's own intent, rejected = another one."""
    return [
        {"prompt": r["text"], "chosen": r["label"], "rejected": LABELS[(LABELS.index(r["label"]) + 1 + i % 2) % 3]}
        for i, r in enumerate(intent_rows())
    ]


@pytest.fixture(scope="module")
def dpo_run(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dpo")
    write_jsonl(tmp / "pairs.jsonl", preference_rows())
    extra = "split:\n  validation: 0.2\n  test: 0.2\n  allow_small_holdout: true\naudit:\n  in_run: false\n"
    config = make_config(tmp, tiny_model_dir, "pairs.jsonl", extra)
    text = config.read_text().replace("max_steps: 6", "max_steps: 30").replace("eval_steps: 2", "eval_steps: 5")
    config.write_text(text)
    return run(load_config(config), tmp / "run"), tmp / "run"


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def dpo_learning_run(request, tiny_model_dir, tmp_path_factory):
    """DPO (full fine-tuning, so the reference is TRL's frozen copy) on 216 distinct prompts, in fp32 and with the
    bf16 training path forced (emulated where the CPU has no native bf16). Measured over seeds 1, 2 and 7 in both
    precisions: preference accuracy 0.93-0.98 on 54 test rows from a base of 0.43-0.50. The LoRA fixture above
    learns on some seeds only (seeds 1-3: tuned = base), so it checks the run's files, not learning."""
    tmp = tmp_path_factory.mktemp("dpo-learning")
    write_jsonl(tmp / "pairs.jsonl", intent_preference_rows())
    config = make_config(tmp, tiny_model_dir, "pairs.jsonl", LEARNING_SPLIT + "audit:\n  in_run: false\n")
    overrides = ["train.method=full", "train.learning_rate=0.001", "train.max_steps=60", "train.eval_steps=5"]
    cfg = load_config(config, [*overrides, f"train.precision={request.param}"])
    return run(cfg, tmp / "run"), tmp / "run", request.param


def test_dpo_run_keeps_the_best_checkpoint_and_logs_reward_accuracy(dpo_run):
    summary, run_dir = dpo_run
    assert summary["task"] == "preference"
    assert (run_dir / "train" / "checkpoint" / "adapter_model.safetensors").is_file()
    log = [json.loads(line) for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines()]
    validation = [row for row in log if row["split"] == "validation"]
    assert len(validation) >= 2 and all(0 <= row["reward_accuracy"] <= 1 for row in validation)
    assert summary["train"]["best_step"] in {row["step"] for row in validation}


def test_dpo_raises_preference_accuracy_above_the_base_models(dpo_learning_run):
    summary, run_dir, precision = dpo_learning_run
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    base, tuned = metrics["base"]["preference_accuracy"], metrics["tuned"]["preference_accuracy"]
    assert metrics["tuned"]["n"] >= 50 and tuned >= base + 0.3 and tuned >= 0.85, (base, tuned)
    assert summary["precision"]["train"] == precision
    assert summary["precision"]["eval"] == "fp32"  # eval.precision auto: implicit rewards are scored in fp32
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


def test_trls_tokenising_bars_are_silenced_for_the_trainer_and_restored_after(capfd):
    import datasets

    from tunewise.train.dpo import _quiet_datasets

    with _quiet_datasets():
        datasets.Dataset.from_list([{"a": i} for i in range(50)]).map(lambda row: row, desc="Tokenizing train dataset")
    assert "Tokenizing" not in capfd.readouterr().err and datasets.is_progress_bar_enabled()
