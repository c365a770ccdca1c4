import pytest

from tunewise.evaluate.judge import _outcome, agreement_with_humans, judge_pairs, summarize
from tunewise.models.prompts import make_renderer


def test_both_orders_must_agree_or_it_is_a_tie():
    assert _outcome("A", "B") == "1" and _outcome("B", "A") == "2"
    assert _outcome("A", "A") == "tie" and _outcome("B", "B") == "tie"


def test_summary_counts_ties_half_and_reports_the_flip_rate():
    found = summarize(["2", "2", "1", "tie"])
    assert (found["wins_1"], found["wins_2"], found["ties"]) == (1, 2, 1)
    assert found["win_rate_2"] == pytest.approx(2.5 / 4) and found["flip_rate"] == 0.25
    low, high = found["win_rate_2_ci"]
    assert low <= found["win_rate_2"] <= high


def test_a_judge_that_always_says_A_only_produces_ties(tiny_model_dir, tiny_tokenizer, monkeypatch):
    import tunewise.evaluate.judge as judge

    monkeypatch.setattr(
        judge, "predict_labels", lambda model, renderer, conversations, labels, bs: ["A"] * len(conversations)
    )
    found = judge_pairs(None, None, ["q1", "q2"], ["x", "y"], ["z", "w"])
    assert found["ties"] == 2 and found["flip_rate"] == 1.0 and found["win_rate_2"] == 0.5


def test_judging_with_a_real_model_gives_one_outcome_per_row(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    found = judge_pairs(
        model,
        make_renderer(tiny_tokenizer),
        ["where is my card"] * 3,
        ["soon", "no", "yes"],
        ["it was sent monday", "ok", "maybe"],
    )
    assert found["n"] == 3 and len(found["outcomes"]) == 3
    assert found["wins_1"] + found["wins_2"] + found["ties"] == 3


def test_judge_human_agreement_is_cohens_kappa_on_shared_items():
    judge = {"a": "1", "b": "2", "c": "2", "d": "tie"}
    humans = {"a": "1", "b": "2", "c": "1", "e": "2"}
    found = agreement_with_humans(judge, humans)
    assert found["n"] == 3 and found["raw_agreement"] == pytest.approx(2 / 3)
    assert -1 <= found["kappa"] < 1
    assert agreement_with_humans({"a": "1"}, {"b": "1"})["kappa"] is None
