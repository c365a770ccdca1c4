"""Agreement, win rates and Bradley-Terry scores against values worked out by hand or published."""

from __future__ import annotations

import math

import pytest

from tunewise.review.stats import (
    bradley_terry,
    cohen_kappa,
    krippendorff_alpha,
    pairwise_kappas,
    wilson_interval,
    win_rates,
)


def two_raters(table: list[list[int]]) -> dict:
    """Items rated yes/no by raters a and b, with the counts of a 2x2 agreement table (rows: a, columns: b)."""
    ratings, item = {}, 0
    for a_value, row in zip(("yes", "no"), table, strict=True):
        for b_value, count in zip(("yes", "no"), row, strict=True):
            for _ in range(count):
                ratings[f"i{item}"] = {"a": a_value, "b": b_value}
                item += 1
    return ratings


def test_cohen_kappa_matches_the_textbook_table():
    # 50 items: both yes 20, a yes b no 5, a no b yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    result = cohen_kappa(two_raters([[20, 5], [10, 15]]), "a", "b")
    assert result == {"kappa": pytest.approx(0.4), "items": 50}
    assert cohen_kappa(two_raters([[25, 0], [0, 25]]), "a", "b")["kappa"] == pytest.approx(1.0)


def test_cohen_kappa_uses_only_items_both_rated_and_refuses_degenerate_cases():
    ratings = two_raters([[20, 5], [10, 15]]) | {"solo": {"a": "yes"}}
    assert cohen_kappa(ratings, "a", "b")["items"] == 50
    assert cohen_kappa({"x": {"a": "yes", "b": "yes"}, "y": {"a": "yes", "b": "yes"}}, "a", "b")["kappa"] is None
    assert pairwise_kappas(ratings) == [{"raters": ["a", "b"], "kappa": pytest.approx(0.4), "items": 50}]


def test_krippendorff_alpha_reproduces_krippendorffs_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 3-coder, 15-unit example with
    # missing values: nominal alpha 0.691, interval alpha 0.811
    coders = [
        [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
        [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
        [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
    ]
    ratings = {
        f"u{unit}": {f"c{c}": row[unit] for c, row in enumerate(coders) if row[unit] is not None} for unit in range(15)
    }
    assert krippendorff_alpha(ratings, "nominal")["alpha"] == pytest.approx(0.691, abs=0.001)
    assert krippendorff_alpha(ratings, "interval")["alpha"] == pytest.approx(0.811, abs=0.001)
    ordinal = krippendorff_alpha(ratings)
    assert ordinal["level"] == "ordinal" and ordinal["raters"] == 3 and ordinal["items"] == 12
    assert krippendorff_alpha({"u": {"a": 2}})["alpha"] is None  # nobody rated the same unit twice


def test_wilson_interval_matches_the_closed_form():
    low, high = wilson_interval(8, 10)
    z, p, n = 1.959964, 0.8, 10
    centre, half = (
        (p + z * z / (2 * n)) / (1 + z * z / n),
        z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n),
    )
    assert (low, high) == (pytest.approx(centre - half, abs=1e-4), pytest.approx(centre + half, abs=1e-4))
    assert wilson_interval(0, 0) is None


def test_win_rates_count_ties_and_both_bad_apart():
    votes = [("base", "tuned", "b")] * 30 + [("tuned", "base", "b")] * 10 + [("base", "tuned", "tie")] * 5
    votes += [("base", "tuned", "both_bad")] * 2
    found = win_rates(votes)
    assert found["tuned"]["wins"] == 30 and found["tuned"]["losses"] == 10
    assert found["tuned"]["ties"] == 5 and found["tuned"]["both_bad"] == 2
    assert found["tuned"]["win_rate"] == pytest.approx(0.75) and found["base"]["win_rate"] == pytest.approx(0.25)
    low, high = found["tuned"]["win_rate_ci"]
    assert low < 0.75 < high and 0.5 < low
    with pytest.raises(ValueError, match="outcome"):
        win_rates([("a", "b", "left")])


def test_bradley_terry_orders_systems_and_its_intervals_separate_clear_gaps():
    votes = [("a", "b", "a")] * 40 + [("a", "b", "b")] * 10 + [("b", "c", "a")] * 40 + [("b", "c", "b")] * 10
    votes += [("a", "c", "a")] * 45 + [("a", "c", "b")] * 5 + [("a", "c", "tie")] * 7
    found = bradley_terry(votes, rounds=200)
    assert found["a"]["score"] > found["b"]["score"] > found["c"]["score"]
    assert sum(v["score"] for v in found.values()) == pytest.approx(0, abs=1e-9)
    assert found["a"]["ci"][0] > found["b"]["ci"][1] and found["b"]["ci"][0] > found["c"]["ci"][1]
    assert found == bradley_terry(votes, rounds=200)  # seeded
