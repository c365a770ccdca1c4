import pytest

from tunewise.evaluate import classification_metrics, generation_metrics


def test_classification_metrics_match_hand_computed_values():
    refs = ["a", "a", "b", "b"]
    preds = ["a", "b", "b", "b"]
    metrics = classification_metrics(refs, preds)
    assert metrics["accuracy"] == 0.75
    # F1(a) = 2*1*0.5/1.5 = 2/3, F1(b) = 2*(2/3)*1/(5/3) = 0.8
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert metrics["n"] == 4


def test_generation_metrics_perfect_and_disjoint():
    refs = ["the customer asks about a card", "they agree to meet at noon"]
    perfect = generation_metrics(refs, refs)
    assert perfect["rougeL"] == pytest.approx(1.0) and perfect["bleu"] == pytest.approx(100.0)
    assert perfect["exact_match"] == 1.0
    disjoint = generation_metrics(refs, ["zebra xylophone", "quantum walrus"])
    assert disjoint["rougeL"] == 0.0 and disjoint["exact_match"] == 0.0
    partial = generation_metrics(refs, ["the customer asks about a loan", "they meet at noon"])
    assert 0.0 < partial["rougeL"] < 1.0 and 0.0 < partial["chrf"] < 100.0
