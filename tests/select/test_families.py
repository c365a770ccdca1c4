"""Selection across model families: a baseline, the encoder (the real all-MiniLM-L6-v2, 22M parameters) and a decoder
with either objective, on the same probe examples and validation rows."""

from __future__ import annotations

import math

import pytest

from tests.select.test_rank import candidate as synthetic
from tests.select.test_select import BATCH, PROBE_STEPS, write_config
from tunewise.config import load_config
from tunewise.errors import TunewiseError
from tunewise.select import select_base_model, with_selected_model
from tunewise.select.candidates import parse_candidate
from tunewise.select.rank import rank


@pytest.mark.parametrize(
    ("name", "task", "why"),
    [
        ("embedding_lr", "completion", "a baseline for classification data"),
        ("retrieval", "classification", "a baseline for completion, chat data"),
        ("minilm-l6:generate", "classification", "minilm-l6 is an encoder"),
        ("minilm-l6", "chat", "minilm-l6 is an encoder"),
        ("smollm2-135m-instruct:classify", "completion", "the classify objective needs classification data"),
        ("smollm2-135m-instruct:chat", "classification", "'chat' is not an objective"),
    ],
)
def test_a_candidate_that_cannot_apply_is_a_config_error(name, task, why):
    with pytest.raises(TunewiseError, match="select.candidates") as raised:
        parse_candidate(name, task, "classify")
    assert why in str(raised.value) and f"'{name}'" in str(raised.value)


def test_names_map_to_their_family_and_objective():
    assert parse_candidate("embedding_lr", "classification", "classify").kind == "baseline"
    encoder = parse_candidate("minilm-l6", "classification", "generate")  # an encoder classifies, whatever the run
    assert (encoder.kind, encoder.model, encoder.objective, encoder.trains) == (
        "encoder",
        "minilm-l6",
        "classify",
        True,
    )
    plain = parse_candidate("smollm2-135m-instruct", "classification", "generate")  # the run's own objective
    assert (plain.model, plain.objective) == ("smollm2-135m-instruct", "generate")
    head = parse_candidate("smollm2-135m-instruct:classify", "classification", "generate")
    assert (head.kind, head.model, head.objective) == ("decoder", "smollm2-135m-instruct", "classify")


PER_CLASS = 8


@pytest.fixture(scope="module")
def families(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    names = ["embedding_lr", "minilm-l6", f"{tiny_model_dir}:classify", f"{tiny_model_dir}:generate"]
    config = write_config(folder, names)
    cfg = load_config(config, ["train.encoder.batch_size=5", f"select.probe_per_class={PER_CLASS}"])
    return select_base_model(cfg, folder / "out"), cfg, folder


def test_every_family_gets_the_same_examples_and_validation_rows(families, tiny_model_dir):
    selection, _, _ = families
    by_name = {c["name"]: c for c in selection["candidates"]}
    examples = PER_CLASS * 3  # 8 of each of the 3 intents: more than probe_steps x batch_size asks for
    assert examples > PROBE_STEPS * BATCH and {c["examples"] for c in by_name.values()} == {examples}
    assert {len(c["probe"]["per_row"]) for c in by_name.values()} == {selection["validation_rows"]}
    assert by_name["embedding_lr"]["kind"] == "baseline" and by_name["embedding_lr"]["steps"] == 0
    assert by_name["minilm-l6"]["steps"] == math.ceil(examples / 5)  # the encoder's own batch size, one pass
    assert by_name[f"{tiny_model_dir}:classify"]["steps"] == math.ceil(examples / BATCH)
    assert by_name[f"{tiny_model_dir}:generate"]["steps"] == math.ceil(examples / BATCH)
    for name in ("embedding_lr", "minilm-l6"):  # no text before tuning: no zero-shot, no bits per byte
        assert by_name[name]["zero_shot"] is None and by_name[name]["bits_per_byte"] is None
        assert 20e6 < by_name[name]["parameters"] < 25e6  # MiniLM-L6, plus a 3-class head
    for name in (f"{tiny_model_dir}:classify", f"{tiny_model_dir}:generate"):
        assert by_name[name]["zero_shot"] is not None and by_name[name]["bits_per_byte"] > 0
    for found in by_name.values():
        assert found["rows_per_second"] > 0 and found["latency_seconds"] > 0


def test_the_sentence_encoder_beats_a_random_tiny_decoder_and_the_run_trains_a_model(families, tiny_model_dir):
    selection, cfg, folder = families
    scores = {c["name"]: c["probe"]["score"] for c in selection["candidates"]}
    assert scores["embedding_lr"] > scores[f"{tiny_model_dir}:classify"]  # 3 well separated intents vs chance
    assert selection["pick"] in ("embedding_lr", "minilm-l6")
    assert selection["train_pick"] != "embedding_lr"
    picked, _ = with_selected_model(cfg, folder / "again")  # from the cache
    chosen = next(c for c in selection["candidates"] if c["name"] == selection["train_pick"])
    assert picked.model.name == chosen["model"]
    if chosen["kind"] == "decoder":
        assert picked.train.objective == chosen["objective"]


def test_a_baseline_as_good_as_the_encoder_is_picked_and_the_run_trains_the_encoder():
    # the sizes measured: the sentence-transformers model counts its (unused) pooler, the encoder has none
    baseline = {**synthetic("embedding_lr", 270, 22.74e6, 5.0), "kind": "baseline"}
    encoder = {**synthetic("minilm-l6", 272, 22.60e6, 5.2), "kind": "encoder"}
    decoder = {**synthetic("smollm2:classify", 200, 135e6, 40.0), "kind": "decoder"}
    result = rank([decoder, encoder, baseline], "classification", "accuracy")
    assert (result["pick"], result["train_pick"]) == ("embedding_lr", "minilm-l6")
    assert "embedding_lr needs no fine-tune at all" in result["reasons"][1]
    alone = rank([decoder, {**encoder}], "classification", "accuracy")
    assert alone["pick"] == alone["train_pick"] == "minilm-l6"


def test_an_encoder_beating_its_own_embedding_is_not_called_the_smaller_model():
    baseline = {**synthetic("embedding_lr", 240, 22.74e6, 5.7), "kind": "baseline"}
    encoder = {**synthetic("minilm-l6", 285, 22.60e6, 4.0), "kind": "encoder"}
    result = rank([baseline, encoder], "classification", "accuracy")
    assert result["pick"] == "minilm-l6" and "smaller model wins" not in result["reasons"][0]
    costs = result["reasons"][1]
    assert "minilm-l6 250.0 rows/s, 50 ms per request alone" in costs  # latency even without a memory figure


def test_auto_with_only_baselines_is_a_config_error(families, tmp_path):
    _, cfg, _ = families
    only = cfg.model_copy(deep=True)
    only.select.candidates = ["embedding_lr"]
    with pytest.raises(TunewiseError, match="only baselines, so model.name: auto has nothing to fine-tune"):
        with_selected_model(only, tmp_path / "only")


def test_default_candidates_span_every_family_that_applies_to_the_task():
    from tunewise.select.candidates import default_candidates

    names, why = default_candidates("classification")
    assert names == ["embedding_lr", "minilm-l6", "smollm2-135m-instruct", "gemma3-270m"]
    assert "classification" in why and "select.candidates unset" in why
    kinds = {parse_candidate(name, "classification", "classify").kind for name in names}
    assert kinds == {"baseline", "encoder", "decoder"}
    for task in ("completion", "chat"):
        names, why = default_candidates(task)
        assert names == ["retrieval", "smollm2-135m-instruct", "gemma3-270m"] and task in why
        assert [parse_candidate(name, task, "generate").objective for name in names] == ["baseline", *["generate"] * 2]


def test_a_config_without_candidates_leaves_them_to_the_task(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: d.jsonl\nmodel:\n  name: auto\n")
    assert load_config(config).select.candidates is None


def test_the_probe_sees_enough_examples_of_every_class_up_to_its_cap(tmp_path):
    from tunewise.select import probe_size

    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: d.jsonl\n")
    cfg = load_config(config)  # probe_steps 60 x batch 8 = 480 examples; 8 per class
    many = [{"text": f"q{i}", "label": f"intent{i % 150}"} for i in range(3000)]  # 150 classes, 20 rows each
    assert probe_size(cfg, many, "classification") == 1200
    assert probe_size(load_config(config, ["select.probe_max_examples=1000"]), many, "classification") == 1000
    few = [{"text": f"q{i}", "label": f"intent{i % 3}"} for i in range(3000)]
    assert probe_size(cfg, few, "classification") == 480 and probe_size(cfg, few, "completion") == 480
    thin = [{"text": f"q{i}", "label": f"intent{i % 150}"} for i in range(450)]  # 3 rows per class: all of them
    assert probe_size(cfg, thin, "classification") == 450


def test_the_projection_counts_the_runs_steps_and_its_validation_passes(tmp_path):
    from tunewise.select.cost import projected_train_seconds

    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: d.jsonl\ntrain:\n  epochs: 2\n  batch_size: 8\n  eval_steps: 50\n")
    cfg, full_run = load_config(config), {"train_rows": 1000, "validation_rows": 200}
    decoder = parse_candidate("smollm2-135m-instruct", "classification", "classify")
    found = {"examples": 100, "train_seconds": 9.0, "step_seconds": 0.5, "rows_per_second": 100.0}
    # 2 epochs of 125 steps at the steady 0.5 s, and 5 validation passes over 200 rows at 100 rows/s
    assert projected_train_seconds(cfg, decoder, found, full_run) == 250 * 0.5 + 5 * 2.0
    assert projected_train_seconds(cfg, decoder, {**found, "step_seconds": None}, full_run) == 250 * 0.72 + 10
    capped = load_config(config, ["train.max_steps=100"])
    assert projected_train_seconds(capped, decoder, found, full_run) == 100 * 0.5 + 2 * 2.0
    baseline = parse_candidate("embedding_lr", "classification", "classify")  # its fit scales with the rows
    assert projected_train_seconds(cfg, baseline, {"examples": 100, "train_seconds": 4.0}, full_run) == 40.0


def test_the_projection_prices_each_step_by_its_padded_tokens_batched_as_the_trainer_batches(tmp_path):
    import torch

    from tunewise.select.cost import StepTimer, mean_step_tokens, projected_train_seconds

    # the timer matches batches to steps by position: accelerate's loader makes each batch one step early
    timer = StepTimer()
    collate = timer.counting(lambda rows: {"input_ids": torch.zeros(len(rows), max(rows))})
    timer._accumulation = 1
    for step, length in enumerate([40, 10, 10, 30, 10, 10, 30]):
        collate([length] * 4)
        timer.durations.append(0.1 + 0.01 * 4 * length + (0.3 if step == 0 else 0.0))  # the first pays set-up
    assert timer.tokens == [160, 40, 40, 120, 40, 40, 120]
    model = timer.step_model()
    assert model["fixed"] == pytest.approx(0.1) and model["per_token"] == pytest.approx(0.01)
    # length grouping: a mega-batch of 4 batches sorted by length puts the rare long rows into one batch of 4,
    # where a random order pads most batches to some long row
    counts = {"10": 90, "60": 10}
    grouped = mean_step_tokens(counts, 4000, 8, 1, grouped=True, packed=False)
    shuffled = mean_step_tokens(counts, 4000, 8, 1, grouped=False, packed=False)
    packed = mean_step_tokens(counts, 4000, 8, 1, grouped=False, packed=True)
    assert packed == pytest.approx(8 * 15, rel=0.05)  # the mean length 15, no padding
    assert packed < grouped < 0.75 * shuffled
    assert shuffled == pytest.approx(8 * (60 * (1 - 0.9**8) + 10 * 0.9**8), rel=0.1)  # any long row pads all
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: d.jsonl\ntrain:\n  epochs: 1\n  batch_size: 8\n  eval_steps: 1000\n")
    cfg = load_config(config)
    decoder = parse_candidate("smollm2-135m-instruct", "classification", "classify")
    found = {
        "examples": 100,
        "train_seconds": 9.0,
        "step_seconds": 0.5,
        "rows_per_second": 100.0,
        "step_model": {"fixed": 0.1, "per_token": 0.01},
        "length_counts": counts,
    }
    expected = 500 * (0.1 + 0.01 * mean_step_tokens(counts, 4000, 8, 1, grouped=True, packed=False, seed=cfg.seed))
    assert projected_train_seconds(cfg, decoder, found, {"train_rows": 4000, "validation_rows": 10}) == (
        pytest.approx(expected)
    )
