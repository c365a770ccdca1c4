"""The encoder candidate (model.name: minilm-l6, the real all-MiniLM-L6-v2 from its PyPI package: 22M parameters,
small enough for a unit test): full fine-tuning with a mean-pooling head started from a linear probe."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import LABELS, classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.data.embed import embed
from tunewise.models.encoder import encoder_classifier, mean_pooled, set_head
from tunewise.models.registry import is_encoder, prepare_model
from tunewise.pipeline import evaluate_run, run
from tunewise.rundir import RunDir
from tunewise.train.classify import linear_probe


@pytest.fixture(scope="module")
def minilm() -> str:
    return str(prepare_model("minilm-l6"))


def test_the_registry_knows_the_encoder_and_its_folder(minilm):
    assert is_encoder("minilm-l6") and not is_encoder("smollm2-135m-instruct") and not is_encoder("elsewhere")
    assert json.loads((__import__("pathlib").Path(minilm) / "config.json").read_text())["model_type"] == "bert"


def test_mean_pooling_is_the_sentence_embedding(minilm):
    """The head reads exactly what sentence-transformers calls the embedding, so a linear probe carries over."""
    from transformers import AutoTokenizer

    texts = ["where is my new card", "how do i change my pin please"]
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    model = encoder_classifier(minilm, LABELS).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.bert(**batch).last_hidden_state
    ours = mean_pooled(hidden, batch["attention_mask"]).numpy()
    np.testing.assert_allclose(ours, embed(texts), atol=1e-4)


def test_a_head_started_from_the_linear_probe_predicts_as_the_probe_does(minilm, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer

    rows = classification_rows(1)
    texts, row_labels = [r["text"] for r in rows], [r["label"] for r in rows]
    labels = [*LABELS, "never_seen"]  # a class without rows is never the probe's answer
    weight, bias = linear_probe(texts, row_labels, labels, tmp_path)
    model = encoder_classifier(minilm, labels).eval()
    set_head(model, weight, bias)
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    ours = [labels[i] for i in logits.argmax(-1).tolist()]
    probe = LogisticRegression(C=10.0, max_iter=2000).fit(embed(texts), row_labels).predict(embed(texts))
    assert ours == probe.tolist()


def test_two_classes_probe_as_one_sigmoid_with_the_same_probabilities(minilm, tmp_path):
    from sklearn.linear_model import LogisticRegression

    rows = [r for r in classification_rows(1) if r["label"] != "exchange_rate"]
    texts, row_labels = [r["text"] for r in rows], [r["label"] for r in rows]
    weight, bias = linear_probe(texts, row_labels, LABELS[:2], tmp_path)
    vectors = embed(texts)
    logits = vectors @ weight.T + bias
    ours = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    fitted = LogisticRegression(C=10.0, max_iter=2000).fit(vectors, row_labels)
    assert fitted.classes_.tolist() == LABELS[:2]
    np.testing.assert_allclose(ours, fitted.predict_proba(vectors), atol=1e-5)


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("encoder")
    write_jsonl(tmp / "intents.jsonl", classification_rows())
    config = make_config(tmp, "minilm-l6", "intents.jsonl")
    cfg = load_config(config, ["train.encoder.epochs=2", "train.encoder.batch_size=8", "train.max_steps=12"])
    return run(cfg, tmp / "run"), RunDir(tmp / "run")


def test_an_encoder_run_trains_in_full_with_its_own_recipe_and_says_so(encoder_run):
    summary, run_dir = encoder_run
    written = load_config(run_dir.config)
    assert written.train.method == "full" and written.train.learning_rate == 5e-5 and written.train.batch_size == 8
    assert summary["method"] == "full"
    saved = json.loads((run_dir.checkpoint / "config.json").read_text())
    assert saved["architectures"] == ["MeanPoolingClassifier"] and len(saved["id2label"]) == 3


def test_an_encoder_run_scores_well_and_has_no_base_model(encoder_run):
    summary, run_dir = encoder_run
    metrics = json.loads(run_dir.metrics().read_text())
    assert "base" not in metrics and "encoder" in metrics["base_skipped"]
    assert metrics["tuned"]["accuracy"] >= 0.8  # the probe start alone separates the fixture's 3 intents
    gain = next(c for c in summary["decision"]["checks"] if c["check"] == "gain_over_base")
    assert gain["passed"] and not gain["blocking"]
    assert set(metrics["baselines"]) >= {"majority", "embedding_lr"}


def test_eval_again_reloads_the_encoder_with_the_same_answers(encoder_run):
    summary, run_dir = encoder_run
    first = run_dir.predictions().read_text()
    again = evaluate_run(run_dir.root, "test")
    assert again["tuned"] == summary["tuned"] and run_dir.predictions().read_text() == first


def test_an_encoder_exports_as_its_own_class_and_answers_as_the_run(encoder_run, tmp_path):
    from transformers import AutoTokenizer

    from tunewise.cli import main
    from tunewise.models.encoder import MeanPoolingClassifier

    _, run_dir = encoder_run
    out = tmp_path / "merged"
    assert main(["export", str(run_dir.root), "--out", str(out)]) == 0
    assert json.loads((out / "export.json").read_text())["agreement"] == 1.0
    model, tokenizer = MeanPoolingClassifier.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    rows = [json.loads(line) for line in run_dir.predictions().open()]
    with torch.no_grad():
        logits = model(**tokenizer([r["input"] for r in rows], padding=True, return_tensors="pt")).logits
    assert [model.config.id2label[i] for i in logits.argmax(-1).tolist()] == [r["tuned"] for r in rows]
    assert "MeanPoolingClassifier.from_pretrained" in (out / "README.md").read_text()


def test_the_encoder_on_generation_data_is_a_config_error(tmp_path, capsys):
    from tunewise.cli import main

    write_jsonl(tmp_path / "gen.jsonl", [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    config = make_config(tmp_path, "minilm-l6", "gen.jsonl")
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "model.name: minilm-l6 is an encoder: it classifies (completion data here)" in capsys.readouterr().err
