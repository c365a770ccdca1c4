"""The cheap baselines: what each predicts, the knob tuned on validation, the cost, the embedding cache."""

import numpy as np
import pytest

import tunewise.data.embed as embed_module
from tunewise.errors import TunewiseError
from tunewise.evaluate.baselines import C_GRID, baseline_names, run_baseline

TOPICS = {
    "card": ["my card is lost", "card stolen yesterday", "block my card please", "new card needed", "card broken"],
    "rate": ["what is the exchange rate", "rate for euros", "dollar rate today", "how much is the rate", "fx rate"],
    "cash": ["atm ate my cash", "withdraw cash abroad", "cash machine fee", "no cash came out", "cash limit"],
}


def rows_of(topics, take):
    return [{"text": text, "label": label, "meta": {}} for label, texts in topics.items() for text in take(texts)]


@pytest.fixture
def splits():
    return {
        "train": rows_of(TOPICS, lambda t: t[:3]) + [{"text": "card again", "label": "card", "meta": {}}],
        "validation": rows_of(TOPICS, lambda t: t[3:4]),
        "test": rows_of(TOPICS, lambda t: t[4:]),
    }


def test_majority_predicts_the_most_common_training_label(splits, tmp_path):
    found = run_baseline("majority", splits, splits["test"], "classification", tmp_path)
    assert found["predictions"] == ["card"] * 3 and found["settings"] == {"label": "card"}
    assert found["fit_seconds"] >= 0 and found["rows_per_second"] > 0


def test_embedding_lr_routes_unseen_wordings_and_tunes_c_on_validation(splits, tmp_path):
    found = run_baseline("embedding_lr", splits, splits["test"], "classification", tmp_path)
    assert found["predictions"] == ["card", "rate", "cash"]
    assert found["settings"]["C"] in C_GRID and found["settings"]["validation_accuracy"] == 1.0


def test_retrieval_answers_with_the_nearest_training_prompts_answer(tmp_path):
    train = [
        {"prompt": "reset my password", "completion": "Use the reset link.", "meta": {}},
        {"prompt": "opening hours of the branch", "completion": "9 to 5.", "meta": {}},
    ]
    test = [{"prompt": "when is the branch open", "completion": "?", "meta": {}}]
    found = run_baseline("retrieval", {"train": train, "validation": []}, test, "completion", tmp_path)
    assert found["predictions"] == ["9 to 5."]


def test_embeddings_are_cached_text_by_text(splits, tmp_path, monkeypatch):
    calls = []
    real = embed_module.embed
    monkeypatch.setattr(embed_module, "embed", lambda texts, *args: calls.append(list(texts)) or real(texts, *args))
    first, seconds = embed_module.embed_cached(["a card", "a rate"], tmp_path)
    again, same_seconds = embed_module.embed_cached(["a card", "a rate"], tmp_path)
    other, _ = embed_module.embed_cached(["cash", "a card", "cash"], tmp_path)  # only the new text is encoded
    assert calls == [["a card", "a rate"], ["cash"]]
    assert np.array_equal(first, again) and seconds == same_seconds > 0
    assert np.array_equal(other[1], first[0]) and np.array_equal(other[0], other[2])
    assert np.allclose(other, real(["cash", "a card", "cash"]), atol=1e-5)
    embed_module._CHUNK_KEYS.clear()  # another process reads the same store from disk
    assert np.array_equal(embed_module.embed_cached(["a rate"], tmp_path)[0][0], first[1]) and len(calls) == 2


def test_the_default_baselines_follow_the_task_and_a_misfit_is_a_config_error():
    assert baseline_names(None, "classification") == ["majority", "embedding_lr"]
    assert baseline_names(None, "chat") == ["retrieval"] and baseline_names([], "chat") == []
    with pytest.raises(TunewiseError, match=r"eval.baselines: 'retrieval' does not apply to classification data"):
        baseline_names(["retrieval"], "classification")


def test_the_embedding_model_loads_from_its_package_and_leaves_the_hub_setting_alone():
    """all-MiniLM-L6-v2 comes from its PyPI package (local files only); loading it must not switch the whole
    process offline, or a user's hub model named later in the same process could not be fetched."""
    import os
    import subprocess
    import sys

    probe = (
        "import os; import tunewise.data.embed as e; v = e.embed(['where is my card']); "
        "print(v.shape, os.environ.get('HF_HUB_OFFLINE'))"
    )
    environment = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-3:] == ["(1,", "384)", "None"]
