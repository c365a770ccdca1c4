import numpy as np
import pytest

from tunewise.evaluate.stats import macro_f1_ci, mcnemar, mean_ci, metric_ci, paired_difference


def test_mean_ci_brackets_the_mean_and_shrinks_with_more_rows():
    small = [1, 0] * 25
    large = [1, 0] * 2500
    low, high = mean_ci(small)
    assert low < 0.5 < high
    wide, narrow = high - low, np.subtract(*mean_ci(large)[::-1])
    assert narrow < wide / 5
    assert mean_ci([1] * 30) == [1.0, 1.0]


def test_metric_ci_recomputes_the_metric():
    refs = ["a", "b"] * 50
    preds = ["a", "b"] * 40 + ["b", "a"] * 10
    low, high = metric_ci(lambda r, p: float(np.mean(np.array(r) == np.array(p))), refs, preds)
    assert low < 0.8 < high


@pytest.mark.parametrize("classes, rows", [(3, 40), (12, 90), (40, 60)])  # 40 classes in 60 rows: many absent
def test_macro_f1_ci_is_metric_ci_of_sklearns_f1_score_on_the_same_resamples(classes, rows):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(classes)
    refs = [f"c{i}" for i in rng.integers(0, classes, rows)]
    preds = [r if rng.random() < 0.6 else f"c{rng.integers(0, classes + 2)}" for r in refs]  # and unseen labels

    def sklearn_macro_f1(r, p):
        return float(f1_score(r, p, average="macro", zero_division=0))

    expected = metric_ci(sklearn_macro_f1, refs, preds, rounds=200, seed=3)
    assert macro_f1_ci(refs, preds, rounds=200, seed=3) == pytest.approx(expected, abs=1e-12)
    assert expected[0] < expected[1]


def test_mcnemar_counts_discordant_rows_and_tests_them():
    base = [True] * 50 + [False] * 50
    tuned = [True] * 50 + [True] * 40 + [False] * 10
    result = mcnemar(base, tuned)
    assert (result["only_base_right"], result["only_tuned_right"]) == (0, 40)
    assert result["p_value"] < 1e-10
    same = mcnemar(base, base)
    assert same["p_value"] == 1.0


def test_paired_difference_sees_a_real_gain_and_not_a_null_one():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    gain = paired_difference(a, a + 0.1)
    assert gain["gain"] == pytest.approx(0.1) and gain["ci_low"] > 0 and gain["p_value"] < 0.01
    noise = rng.normal(0, 0.1, 200)
    null = paired_difference(a, a + noise - noise.mean())  # exactly no gain on average
    assert null["ci_low"] < 0 < null["ci_high"] and null["p_value"] > 0.5
