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


def test_per_class_scores_and_confusion_matrix():
    refs = ["a", "a", "b", "b", "c"]
    preds = ["a", "b", "b", "b", "a"]
    metrics = classification_metrics(refs, preds)
    per_class = {c["label"]: c for c in metrics["per_class"]}
    assert per_class["a"]["precision"] == 0.5 and per_class["a"]["recall"] == 0.5
    assert per_class["b"]["precision"] == pytest.approx(2 / 3) and per_class["b"]["recall"] == 1.0
    assert per_class["c"]["f1"] == 0.0 and per_class["c"]["support"] == 1
    assert metrics["confusion"] == {"labels": ["a", "b", "c"], "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 0]]}
    assert metrics["majority_share"] == 0.4


def test_every_reference_of_a_row_counts():
    prediction = ["ms dawson takes a dictation about email"]
    single = generation_metrics(["a memo is written for all staff"], prediction)
    several = generation_metrics(
        [["a memo is written for all staff", "ms dawson takes a dictation about email"]], prediction
    )
    assert several["rougeL"] == pytest.approx(1.0) and single["rougeL"] < 0.5
    assert several["exact_match"] == 1.0 and single["exact_match"] == 0.0
    assert several["bleu"] > single["bleu"] and several["references_per_row"] == 2
    assert several["prediction_words"] == 7


def test_rows_with_fewer_references_still_score():
    refs = [["the card arrived on monday morning", "my card came on monday"], ["the rate is good today"]]
    metrics = generation_metrics(refs, ["my card came on monday", "the rate is good today"])
    assert metrics["n"] == 2 and metrics["bleu"] == pytest.approx(100.0) and metrics["references_per_row"] == 2


def test_minimum_detectable_effect_shrinks_with_more_rows():
    from tunewise.evaluate.stats import minimum_detectable_effect

    small = minimum_detectable_effect([1, 0, -1, 0] * 25)
    large = minimum_detectable_effect([1, 0, -1, 0] * 400)
    assert large == pytest.approx(small / 4, rel=0.05)
    assert minimum_detectable_effect([0] * 100) > 0  # identical systems still have a finite, positive MDE
    assert minimum_detectable_effect([1]) == float("inf")
    assert minimum_detectable_effect([1.0] * 50) > 0  # every row improved by the same amount


def test_comparison_reports_the_detectable_effect():
    from tunewise.evaluate.metrics import compare

    refs = ["a"] * 50 + ["b"] * 50
    base = ["a"] * 100
    tuned = refs
    result = compare("classification", refs, base, tuned)
    assert result["gain"] == pytest.approx(0.5) and result["n"] == 100 and 0 < result["mde"] < 0.5


def test_custom_metric_by_import_path():
    from tunewise.evaluate.metrics import custom_metrics

    found = custom_metrics(["tests.evaluate.custom:shouting_share"], ["x", "y"], ["LOUD", "quiet"])
    assert found["shouting_share"] == 0.5 and len(found["shouting_share_ci"]) == 2


@pytest.mark.parametrize(
    "path, message",
    [
        ("tests.evaluate.custom", "package.module:function"),
        ("tests.evaluate.nowhere:metric", "cannot import"),
        ("tests.evaluate.custom:missing", "cannot import"),
        ("tests.evaluate.custom:NOT_A_FUNCTION", "not a function"),
        ("tests.evaluate.custom:broken", "ZeroDivisionError"),
    ],
)
def test_bad_custom_metric_is_a_clear_error(path, message):
    from tunewise.errors import TunewiseError
    from tunewise.evaluate.metrics import custom_metrics

    with pytest.raises(TunewiseError, match=message):
        custom_metrics([path], ["x"], ["y"])
