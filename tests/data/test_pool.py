"""The pool's selection rule on a small synthetic pool: thin classes first, uncertain rows next, diverse within a
class, never a repeat of a labelled or test row; and the labels file that brings the answers back."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from tunewise.data.pool import choose, choose_random, gate, load_pool, quotas, read_labelled, thin_classes
from tunewise.errors import TunewiseError

LABELS = ["balance", "card_lost", "exchange_rate", "top_up"]
THIN = {"exchange_rate", "top_up"}


def synthetic_pool(rows: int = 400, seed: int = 0):
    """A pool where, as in a skewed data set, the common classes dominate (80 %) and the model is surer of them;
    every row has its own direction in embedding space except for a few exact wordings repeated."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(LABELS), size=rows, p=[0.4, 0.4, 0.1, 0.1])
    probabilities = rng.dirichlet(np.ones(len(LABELS)), size=rows) * 0.4
    for i, label in enumerate(truth):
        probabilities[i, label] += 0.6 if LABELS[label] not in THIN else 0.3
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    vectors = rng.normal(size=(rows, 16))
    vectors[1:6] = vectors[0]  # five repeats of one wording
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return probabilities, vectors, truth


def test_thin_classes_get_more_of_the_budget_than_a_random_pick_does():
    probabilities, vectors, truth = synthetic_pool()
    deficits = thin_classes({"balance": 120, "card_lost": 90, "exchange_rate": 6, "top_up": 3}, LABELS, 40)
    assert deficits == {"exchange_rate": 34, "top_up": 37}
    candidates = list(range(len(truth)))
    pick = choose(probabilities, LABELS, vectors, candidates, deficits, budget=60)
    drawn = choose_random(candidates, probabilities, LABELS, 60, seed=3)
    truly_thin = sum(LABELS[truth[row]] in THIN for row in pick.rows)
    truly_thin_random = sum(LABELS[truth[row]] in THIN for row in drawn.rows)
    assert len(pick.rows) == len(set(pick.rows)) == 60 and len(drawn.rows) == 60
    assert truly_thin >= 2 * truly_thin_random  # the rule finds the thin classes' rows; a random pick does not
    assert Counter(pick.why.values()) == {"thin": 60}  # 60 < 34 + 37: the whole budget goes to thin classes
    assert pick.classes["top_up"]["quota"] == 31 and pick.classes["exchange_rate"]["quota"] == 29  # ∝ deficit


def test_what_thin_classes_cannot_use_goes_to_the_least_certain_rows_and_no_wording_twice():
    probabilities, vectors, truth = synthetic_pool()
    pick = choose(probabilities, LABELS, vectors, list(range(len(truth))), {"top_up": 5}, budget=40)
    assert Counter(pick.why.values()) == {"thin": 5, "uncertain": 35}
    margins = np.sort(probabilities, axis=1)
    margins = margins[:, -1] - margins[:, -2]
    uncertain = [row for row in pick.rows if pick.why[row] == "uncertain"]
    assert np.median(margins[uncertain]) < np.percentile(margins, 25)  # the least sure rows, not typical ones
    assert len({0, 1, 2, 3, 4, 5} & set(pick.rows)) <= 1  # one wording repeated six times is picked at most once


def test_a_thin_classs_share_goes_to_its_least_sure_candidates_first():
    probabilities, vectors, truth = synthetic_pool()
    pick = choose(probabilities, LABELS, vectors, list(range(len(truth))), {"top_up": 10}, budget=10)
    ordered = np.sort(probabilities, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    top_up = LABELS.index("top_up")
    members = [i for i in range(len(truth)) if top_up in np.argsort(-probabilities[i])[:3]]
    assert set(pick.rows) <= set(members) and len(pick.rows) == 10
    assert max(margins[pick.rows]) <= np.percentile(margins[members], 10)  # not its likeliest rows
    likeliest = choose(probabilities, LABELS, vectors, list(range(len(truth))), {"top_up": 10}, 10, "probability")
    assert min(probabilities[likeliest.rows, top_up]) > max(probabilities[pick.rows, top_up])


def test_quotas_follow_the_deficits_and_never_exceed_them():
    assert quotas({"a": 10, "b": 30}, 100) == {"a": 10, "b": 30}
    assert quotas({"a": 10, "b": 30}, 20) == {"a": 5, "b": 15}
    assert sum(quotas({"a": 7, "b": 7, "c": 7}, 10).values()) == 10


def test_a_pool_row_that_repeats_a_test_or_labelled_input_is_never_offered():
    pool = [
        "How do I top up my card?",  # a test input, re-cased
        "how do i top up my card ?",  # the same again (a near repeat of the test input)
        "Where can I see the exchange rate",  # a labelled row
        "my card was stolen yesterday night",  # new
        "my card was stolen yesterday night!",  # a near repeat of the row above
        "is there a fee to top up by bank transfer",  # new
    ]
    allowed, held = gate(pool, ["where can I see the exchange rate"], ["how do I top up my card?"], threshold=0.85)
    assert allowed == [3, 5]
    assert held == {"test": 2, "labelled": 1, "pool_repeat": 1}


def test_a_pool_file_with_labels_is_read_without_them(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"text": "lost my card", "category": "card_lost"}\n{"text": "rate?", "category": "x"}\n')
    pool = load_pool(path, "classification", {"label": "category"})
    assert pool.labels_ignored == "category" and [r["meta"] for r in pool.records] == [{}, {}]
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    with pytest.raises(TunewiseError, match=r"bad.jsonl:2: field 'text': missing"):
        load_pool(tmp_path / "bad.jsonl", "classification", {})


def test_a_labels_file_adds_majority_labels_and_refuses_an_unknown_one_by_line(tmp_path):
    rows = [
        {"id": "7", "text": "where is my card", "label": "card_lost", "status": "labelled", "votes": 2},
        {"id": "8", "text": "what's the weather", "label": None, "status": "none_of_these", "votes": 2},
        {"id": "9", "text": "hmm", "label": None, "status": "unclear", "votes": 1},
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    records, provenance, counts = read_labelled(path, {"card_lost", "balance"})
    assert records == [{"text": "where is my card", "label": "card_lost", "meta": {}}]
    assert provenance[0] | {"file": None} == {"file": None, "line": 1, "id": "7", "votes": 2} | {
        key: None for key in ("agreeing", "agreement", "reviewers")
    }
    assert counts == {"labelled": 1, "none_of_these": 1, "unclear": 1}
    rows[0]["label"] = "card_stolen"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(TunewiseError, match=r"labels.jsonl:1: field 'label': 'card_stolen' is not a label of the data"):
        read_labelled(path, {"card_lost", "balance"})
