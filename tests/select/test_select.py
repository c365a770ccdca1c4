"""`tunewise select` on two tiny random models: every measurement, the cache, resuming, and model.name: auto."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import classification_rows, write_jsonl
from tunewise._format import duration, planned_memory
from tunewise._io import read_jsonl
from tunewise.config import load_config
from tunewise.select import cache_key, candidate_config, probe_data, select_base_model
from tunewise.select.candidates import parse_candidate

PROBE_STEPS, BATCH = 3, 4


@pytest.fixture(scope="module")
def large_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model's tokenizer with a wider, deeper network: a second candidate with more parameters."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("large-model")
    for path in tiny_model_dir.iterdir():
        if "token" in path.name or path.name == "chat_template.jinja":
            shutil.copy(path, folder / path.name)
    config = LlamaConfig.from_pretrained(tiny_model_dir)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 64, 128, 3
    torch.manual_seed(1)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def write_config(folder: Path, candidates: list[Path], extra: str = "") -> Path:
    write_jsonl(folder / "intents.jsonl", classification_rows(copies=4))
    path = folder / "tunewise.yaml"
    listed = ", ".join(str(c) for c in candidates)
    path.write_text(
        f"name: sel\nseed: 3\ndata:\n  path: intents.jsonl\nsplit:\n  validation: 0.2\n  test: 0.2\n"
        f"model:\n  name: auto\n  max_length: 64\n  cache_dir: {folder / 'cache'}\n"
        f"train:\n  batch_size: {BATCH}\n  learning_rate: 0.01\n  eval_steps: 2\n  logging_steps: 1\n  max_steps: 6\n"
        f"eval:\n  batch_size: 8\n"
        f"select:\n  candidates: [{listed}]\n  probe_steps: {PROBE_STEPS}\n  validation_rows: 12\n  prior_rows: 8\n"
        f"  few_shot: 2\n  latency_rows: 3\n  price_per_hour: 3.6\n  probe_per_class: 1\n{extra}"
    )
    return path


@pytest.fixture(scope="module")
def selected(tiny_model_dir, large_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("select")
    config = write_config(folder, [tiny_model_dir, large_model_dir])
    return select_base_model(load_config(config), folder / "out"), folder, config


def test_every_candidate_is_measured(selected, tiny_model_dir, large_model_dir):
    selection, folder, _ = selected
    small, large = sorted(selection["candidates"], key=lambda c: c["parameters"])
    assert (small["name"], large["name"]) == (str(tiny_model_dir), str(large_model_dir))
    for candidate in (small, large):
        assert candidate["steps"] == PROBE_STEPS and candidate["examples"] == PROBE_STEPS * BATCH
        for stage in ("zero_shot", "few_shot", "probe"):
            found = candidate[stage]
            assert len(found["per_row"]) == selection["validation_rows"] == 12
            assert found["score"] == pytest.approx(sum(found["per_row"]) / 12)
            assert found["score_ci"][0] <= found["score"] <= found["score_ci"][1]
        assert candidate["bits_per_byte"] > 0
        assert candidate["train_tokens_per_second"] > 0 and candidate["train_tokens"] > PROBE_STEPS * BATCH
        assert candidate["rows_per_second"] > 0 and candidate["latency_seconds"] > 0
        # measured in a fresh process each: at least the torch runtime, far below this machine's memory
        assert 10 * 2**20 < candidate["inference_peak_bytes"] < 20 * 2**30
        assert 10 * 2**20 < candidate["train_peak_bytes"] < 20 * 2**30
        weights = Path(candidate["name"]) / "model.safetensors"
        assert candidate["disk_bytes"] == weights.stat().st_size
        # 3.6 per hour = 0.001 per second
        assert candidate["cost_per_1k"] == pytest.approx(candidate["seconds_per_1k"] * 0.001)
        assert candidate["seconds_per_1k"] == pytest.approx(1000 / candidate["rows_per_second"])
    assert small["parameters"] < large["parameters"]
    # the full run's memory plan on this device (tunewise.train.plan), bigger for the bigger model
    plans = [c["train_memory"] for c in (small, large)]
    assert all(p["fits"] and p["device"] == "cpu" and p["method"] == "lora" for p in plans)
    assert 0 < plans[0]["planned_peak_bytes"] < plans[1]["planned_peak_bytes"] < plans[0]["device_memory"]


def test_ranking_pick_and_outputs(selected):
    selection, folder, _ = selected
    names = {c["name"] for c in selection["candidates"]}
    assert set(selection["ranking"]) == names and selection["ranking"][0] == selection["pick"]
    assert selection["best_score"] in names
    assert any(selection["pick"] in sentence for sentence in selection["reasons"])
    assert any(f"the same {PROBE_STEPS * BATCH} training examples, seen once" in s for s in selection["reasons"])
    out = folder / "out"
    assert json.loads((out / "selection.json").read_text())["pick"] == selection["pick"]
    assert (out / "selection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name for p in (out / "split").iterdir()} >= {"train.jsonl", "validation.jsonl", "test.jsonl"}


def test_probe_data_never_reads_the_test_split(selected):
    _, folder, config = selected
    out = folder / "out" / "split"
    rows = {name: read_jsonl(out / f"{name}.jsonl") for name in ("train", "validation", "test")}
    data = probe_data(load_config(config), rows, "classification")
    test_inputs = {r["text"] for r in rows["test"]}
    used = {messages[-1]["content"] for key in ("probe", "validation", "shots") for messages, _ in data[key]}
    assert used and not used & test_inputs
    assert {m[-1]["content"] for m, _ in data["validation"]} <= {r["text"] for r in rows["validation"]}
    # the probe's examples take the labels in turn
    labels = [answer for _, answer in data["probe"]]
    assert labels[:3] == sorted(set(labels[:3])) and len(set(labels[:3])) == 3


def test_cache_measures_only_new_or_unfinished_candidates(selected, tiny_model_dir, tmp_path, monkeypatch):
    import tunewise.select.measure as measure

    selection, folder, config = selected
    third = tmp_path / "third-model"
    shutil.copytree(tiny_model_dir, third)
    cfg = load_config(config, [f"select.candidates=[{tiny_model_dir}, {selection['candidates'][1]['name']}, {third}]"])
    measured = candidate_config(cfg, parse_candidate(str(tiny_model_dir), "classification", "classify"))
    first_key = cache_key(measured, str(tiny_model_dir), str(tiny_model_dir), _data(cfg, folder))
    (folder / "cache" / "select" / first_key / "probe.json").unlink()  # as if killed during its probe

    calls = []
    real = measure.isolated

    def counting(function, *args):
        calls.append((function.__name__, args[0].model.name))
        return real(function, *args)

    monkeypatch.setattr(measure, "isolated", counting)
    again = select_base_model(cfg, tmp_path / "again")
    assert sorted(calls) == sorted(
        [("probe_head", str(tiny_model_dir)), ("prior_fit", str(third)), ("probe_head", str(third))]
    )
    before = {c["name"]: c for c in selection["candidates"]}
    after = {c["name"]: c for c in again["candidates"]}
    for name, candidate in before.items():  # cached figures come back unchanged
        assert after[name]["zero_shot"] == candidate["zero_shot"]
        assert after[name]["bits_per_byte"] == candidate["bits_per_byte"]
    # the same weights in another folder measure the same quality before tuning
    assert after[str(third)]["zero_shot"]["per_row"] == before[str(tiny_model_dir)]["zero_shot"]["per_row"]


def test_cache_key_follows_settings_data_and_model(selected, tiny_model_dir, large_model_dir):
    _, folder, config = selected
    cfg = load_config(config)
    data = _data(cfg, folder)
    key = cache_key(cfg, str(tiny_model_dir), str(tiny_model_dir), data)
    assert key == cache_key(
        load_config(config, ["select.price_per_hour=9"]), str(tiny_model_dir), str(tiny_model_dir), data
    )
    assert key != cache_key(
        load_config(config, ["train.learning_rate=0.02"]), str(tiny_model_dir), str(tiny_model_dir), data
    )
    assert key != cache_key(
        cfg, str(tiny_model_dir), str(tiny_model_dir), {**data, "validation": data["validation"][1:]}
    )
    assert key != cache_key(cfg, str(tiny_model_dir), str(large_model_dir), data)


def test_run_with_auto_uses_the_pick(selected, tmp_path):
    from tunewise.pipeline import run

    _, folder, config = selected
    summary = run(load_config(config), tmp_path / "run")
    # the run's own selection (from the cache; a cost re-measured by an earlier test can change the pick)
    selection = json.loads((tmp_path / "run" / "select" / "selection.json").read_text())
    assert summary["model"] == selection["pick"] == selection["train_pick"]
    assert summary["selection"]["pick"] == selection["pick"] and summary["selection"]["reasons"]
    assert (tmp_path / "run" / "select" / "selection.json").is_file()
    assert f"name: {selection['pick']}" in (tmp_path / "run" / "config.yaml").read_text()
    report = (tmp_path / "run" / "report" / "report.html").read_text()
    assert f"Base model: {selection['pick']} (chosen by" in report and selection["reasons"][0][:40] in report
    # each candidate's full run priced in the report as in the terminal: projected time and memory plan
    assert "full training (projected)" in report and "training memory (plan)" in report
    priced = [c for c in selection["candidates"] if c.get("projected_train_seconds") and c.get("train_memory")]
    assert priced
    for candidate in priced:
        assert duration(candidate["projected_train_seconds"]) in report
        assert planned_memory(candidate["train_memory"]) in report
    assert (tmp_path / "run" / "report" / "selection.png").is_file()


def _data(cfg, folder: Path) -> dict:
    split = folder / "out" / "split"
    rows = {name: read_jsonl(split / f"{name}.jsonl") for name in ("train", "validation")}
    return probe_data(cfg, rows, "classification")


def test_cli_prints_tables_or_json_and_rejects_bad_candidates(selected, tmp_path, capsys):
    from tunewise.cli import main

    selection, folder, config = selected
    assert main(["select", str(config), "--out", str(tmp_path / "a")]) == 0  # every measurement cached
    printed = capsys.readouterr().out
    assert "base-model selection" in printed and "measured cost" in printed and "Recommend" in printed
    assert main(["select", str(config), "--out", str(tmp_path / "b"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    # the same cache gives the same pick (an earlier test re-measures a probe, and with it a cost, so the
    # module fixture's own pick can differ by timing noise)
    table_run = json.loads((tmp_path / "a" / "selection.json").read_text())
    assert found["pick"] == table_run["pick"] and found["pick"] in {c["name"] for c in selection["candidates"]}
    assert "per_row" not in json.dumps(found)
    assert all(c["train_memory"]["planned_peak_bytes"] > 0 for c in found["candidates"])  # the memory plan
    assert main(["select", str(config), "select.candidates=[no-such-model]", "--out", str(tmp_path / "c")]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["select", str(config), "select.candidates=[auto]", "--out", str(tmp_path / "d")]) == 2
    assert "'auto' is not a model" in capsys.readouterr().err


def test_preference_data_is_refused_before_any_measurement(tiny_model_dir, tmp_path):
    from tunewise.errors import TunewiseError

    pairs = [{"prompt": r["text"], "chosen": r["label"], "rejected": "no idea"} for r in classification_rows(copies=2)]
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    config = write_config(tmp_path, [tiny_model_dir])
    with pytest.raises(TunewiseError, match="preference data is not supported"):
        select_base_model(load_config(config, ["data.path=pairs.jsonl"]), tmp_path / "out")


def test_a_measurement_process_leaves_the_launchers_process_group(monkeypatch):
    from tunewise.select.measure import LAUNCHER_VARIABLES, _fresh_process

    for name in LAUNCHER_VARIABLES:
        monkeypatch.setenv(name, "1")
    _fresh_process()
    import os

    assert not any(name in os.environ for name in LAUNCHER_VARIABLES)


def test_same_size_weights_in_another_folder_get_their_own_cache_entry(selected, tiny_model_dir, tmp_path):
    _, folder, config = selected
    cfg, data = load_config(config), _data(load_config(config), folder)
    copy = shutil.copytree(tiny_model_dir, tmp_path / "tiny-model0")  # same name, same sizes, other weights
    assert cache_key(cfg, "m", str(tiny_model_dir), data) != cache_key(cfg, "m", str(copy), data)


def test_generation_tasks_are_scored_by_rouge(tiny_model_dir, tmp_path):
    """A completion task: generated answers, ROUGE-L per row, few-shot turns as earlier conversation."""
    rows = [{"prompt": r["text"], "completion": r["label"].replace("_", " ")} for r in classification_rows(copies=4)]
    config = write_config(tmp_path, [tiny_model_dir])
    write_jsonl(tmp_path / "completions.jsonl", rows)
    overrides = [
        "data.path=completions.jsonl",
        "data.task=completion",
        "eval.max_new_tokens=4",
        "select.validation_rows=10",
    ]
    selection = select_base_model(load_config(config, overrides), tmp_path / "out")
    (only,) = selection["candidates"]
    assert selection["task"] == "completion" and selection["metric"] == "rougeL" and selection["pick"] == only["name"]
    for stage in ("zero_shot", "few_shot", "probe"):
        assert len(only[stage]["per_row"]) == 10 and all(0 <= s <= 1 for s in only[stage]["per_row"])


def test_a_measurement_process_reports_its_own_peak_not_its_parents():
    """Linux carries ru_maxrss over fork and exec: a big test process once made both candidates report its peak."""
    from tunewise.select.measure import isolated
    from tunewise.train.plan import peak_memory_bytes

    ballast = bytearray(1_500_000_000)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touch every page so it is resident
    assert peak_memory_bytes() > 1_500_000_000
    assert isolated(peak_memory_bytes) < 1_000_000_000
    del ballast


def test_auto_refuses_a_run_projected_beyond_the_training_budget(selected, tmp_path, capsys):
    from tunewise.cli import main

    _, folder, config = selected
    out = tmp_path / "run"
    assert main(["run", str(config), "select.max_train_minutes=0.00001", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the selection's progress lines
    assert error.startswith("error: select.max_train_minutes: 1e-05: ") and "is projected to train for" in error
    assert "no candidate that trains fits" in error
    assert not out.exists() and not any(tmp_path.glob(".run*"))  # refused before any training: nothing left
    selection = json.loads((folder / "out" / "selection.json").read_text())
    assert all(c["projected_train_seconds"] > 0 for c in selection["candidates"])


def test_a_pick_over_the_training_budget_is_refused_naming_the_best_candidate_that_fits(tmp_path):
    from tunewise.errors import TunewiseError
    from tunewise.select import check_train_budget

    config = tmp_path / "config.yaml"
    config.write_text("data: {path: data.jsonl, task: classification}\nmodel: {name: auto}\n")
    cfg = load_config(config, ["select.max_train_minutes=10"])

    def candidate(name, kind, score, seconds):
        return {"name": name, "model": f"{name}-model", "kind": kind, "probe": {"score": score}}, seconds

    rows = [
        candidate("big-decoder", "decoder", 0.91, 3600.0),
        candidate("small-encoder", "encoder", 0.89, 300.0),
        candidate("tiny-encoder", "encoder", 0.80, 30.0),
        candidate("embedding_lr", "baseline", 0.85, 10.0),
    ]
    candidates = [c | {"projected_train_seconds": s} for c, s in rows]
    selection = {"pick": "big-decoder", "candidates": candidates}
    with pytest.raises(TunewiseError) as refused:
        check_train_budget(cfg, selection, candidates[0])
    message = str(refused.value)
    assert message.startswith("select.max_train_minutes: 10: big-decoder is projected to train for 60.0 min; ")
    # the best-scoring candidate that trains within the limit, never the baseline (it needs no fine-tune)
    assert "small-encoder is projected at 5.0 min (validation 0.890 against 0.910)" in message
    assert message.endswith("set model.name: small-encoder-model") and "\n" not in message
    check_train_budget(cfg, selection, candidates[1])  # a pick within the limit passes
    with pytest.raises(TunewiseError, match="embedding_lr needs no fine-tune and is the pick: ship it"):
        check_train_budget(cfg, selection | {"pick": "embedding_lr"}, candidates[0])
