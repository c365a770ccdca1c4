"""The recommendation rule and its reasons, on synthetic measurements with known differences."""

from __future__ import annotations

from tunewise.select.rank import pareto_front, rank


def candidate(
    name: str, correct: int, parameters: float, seconds_per_1k: float, rows: int = 300, offset: int = 0, **extra
) -> dict:
    """A candidate whose probe got ``correct`` of ``rows`` validation rows right, from row ``offset`` on."""
    per_row = [1.0 if offset <= i < offset + correct else 0.0 for i in range(rows)]
    return {
        "name": name,
        "parameters": int(parameters),
        "seconds_per_1k": seconds_per_1k,
        "probe": {"score": correct / rows, "score_ci": [0, 1], "per_row": per_row},
        "zero_shot": {"score": extra.get("zero_shot", 0.1)},
        "bits_per_byte": extra.get("bits_per_byte", 1.5),
        "rows_per_second": 1000 / seconds_per_1k,
        "latency_seconds": 0.05,
        "inference_peak_bytes": 2**30,
        "probe_budget": {"steps": 250, "examples": 2000},
    }


def test_a_cheaper_model_within_the_noise_is_recommended():
    # 150 vs 156 right of 300, each right on rows the other gets wrong: a 2-point gap 300 rows cannot resolve
    small, large = candidate("small", 150, 135e6, 20.0, offset=100), candidate("large", 156, 270e6, 30.0)
    result = rank([large, small], "classification", "accuracy")
    assert result["best_score"] == "large" and result["pick"] == "small"
    assert result["ranking"] == ["small", "large"]
    assert small["within_noise_of_best"] and small["vs_best"]["ci_low"] < 0 <= small["vs_best"]["ci_high"]
    verdict = result["reasons"][0]
    assert verdict.startswith("Recommend small: large scored highest") and "within the noise" in verdict
    assert "1.5x cheaper to serve and 2.0x smaller" in verdict


def test_a_significantly_better_smaller_model_wins_outright():
    small, large = candidate("small", 240, 135e6, 20.0), candidate("large", 150, 270e6, 30.0)
    result = rank([large, small], "classification", "accuracy")
    assert result["pick"] == "small" == result["best_score"]
    assert not large["within_noise_of_best"] and large["vs_best"]["ci_high"] < 0
    assert "significantly ahead of large (+0.300 in small's favour" in result["reasons"][0]
    assert "The smaller model wins" in result["reasons"][0]


def test_a_significant_gain_of_a_costlier_model_is_worth_its_price():
    small, large = candidate("small", 120, 135e6, 20.0), candidate("large", 210, 270e6, 30.0)
    result = rank([small, large], "classification", "accuracy")
    assert result["pick"] == "large"
    assert (
        "It costs 1.5x as much to serve as small, and the paired test says that buys a real gain"
        in result["reasons"][0]
    )


def test_equal_cost_prefers_fewer_parameters_among_the_tied():
    a, b = candidate("a", 150, 270e6, 20.0), candidate("b", 150, 135e6, 20.0)
    assert rank([a, b], "classification", "accuracy")["pick"] == "b"


def test_prior_signals_that_disagree_with_the_probe_are_called_out():
    good_prior = candidate("good-prior", 120, 135e6, 20.0, zero_shot=0.3, bits_per_byte=1.2)
    good_probe = candidate("good-probe", 210, 270e6, 30.0, zero_shot=0.1, bits_per_byte=1.8)
    result = rank([good_prior, good_probe], "classification", "accuracy")
    assert any("rank the candidates differently" in s for s in result["reasons"])
    agreeing = candidate("a", 210, 270e6, 30.0, zero_shot=0.3, bits_per_byte=1.2)
    result = rank([agreeing, candidate("b", 120, 135e6, 20.0)], "classification", "accuracy")
    assert any("agree with the probe" in s for s in result["reasons"])


def test_pareto_front_drops_dominated_candidates():
    cheap_good = candidate("cheap-good", 200, 1e6, 10.0)
    pricey_bad = candidate("pricey-bad", 150, 2e6, 30.0)
    pricey_best = candidate("pricey-best", 250, 3e6, 40.0)
    assert pareto_front([cheap_good, pricey_bad, pricey_best]) == {"cheap-good", "pricey-best"}


def test_a_single_candidate_is_profiled_and_picked():
    only = candidate("only", 100, 1e6, 10.0)
    result = rank([only], "classification", "accuracy")
    assert result["pick"] == "only" and result["reasons"][0].startswith("only is the only candidate")


def test_costs_within_ten_percent_count_as_equal_and_the_smaller_model_is_picked():
    # measured 46.5 vs 45.5 rows/s is noise: the leader, twice the size, does not win on a 2 % cost difference
    small, large = candidate("small", 150, 135e6, 22.0, offset=100), candidate("large", 156, 270e6, 21.5)
    result = rank([large, small], "classification", "accuracy")
    assert result["pick"] == "small"
    assert "as cheap to serve (within 10 %) and 2.0x smaller" in result["reasons"][0]
    # the other way round: the smaller model leads, the larger one is within the noise and as cheap
    small, large = candidate("small", 156, 135e6, 22.0), candidate("large", 150, 270e6, 21.5, offset=100)
    result = rank([large, small], "classification", "accuracy")
    assert result["pick"] == "small"
    assert "large is within the noise of it" in result["reasons"][0]
    assert "small is as cheap to serve (within 10 %) and 2.0x smaller" in result["reasons"][0]


def test_significance_needs_both_the_interval_and_the_paired_test():
    # 11 rows only the leader gets right, 3 only the other: the bootstrap interval excludes 0, McNemar p = 0.057
    leader = candidate("leader", 161, 270e6, 30.0)
    other = candidate("other", 150, 135e6, 20.0)
    other["probe"]["per_row"] = [1.0 if i < 150 or 290 <= i < 293 else 0.0 for i in range(300)]
    result = rank([leader, other], "classification", "accuracy")
    assert other["vs_best"]["p_value"] > 0.05 and other["within_noise_of_best"]
    assert result["pick"] == "other"


def with_interval(c: dict, low: float, high: float) -> dict:
    c["probe"]["score_ci"] = [low, high]
    return c


def test_a_candidate_at_chance_is_flagged_and_not_ranked_against_those_above_it():
    # 300 rows, the most common label 10 %: a decoder whose interval reaches 0.10 is indistinguishable from chance
    good = with_interval(candidate("encoder", 270, 22e6, 5.0), 0.86, 0.93)
    noise = with_interval(candidate("decoder", 36, 135e6, 40.0), 0.08, 0.16)
    result = rank([noise, good], "classification", "accuracy", chance=0.10)
    assert noise["at_chance"] and not good["at_chance"]
    assert result["pick"] == result["train_pick"] == "encoder"
    assert any(s.startswith("At chance on this probe") and "decoder (accuracy 0.120" in s for s in result["reasons"])


def test_when_every_candidate_is_at_chance_the_selection_says_the_ranking_is_noise():
    # the 150-intent failure: 480 probe examples, about 3 per class, both decoders at chance (0.007)
    a = with_interval(candidate("gemma", 7, 270e6, 40.0, offset=0), 0.010, 0.040)
    b = with_interval(candidate("smollm", 1, 135e6, 30.0, offset=50), 0.000, 0.010)
    result = rank([a, b], "classification", "accuracy", chance=0.010)
    assert a["at_chance"] and b["at_chance"]
    assert result["reasons"][0].startswith("No candidate scored above chance") and "noise" in result["reasons"][0]
    assert "select.probe_per_class" in result["reasons"][0]


def test_among_tied_candidates_as_cheap_to_serve_the_faster_full_run_wins():
    quick = candidate(
        "quick",
        150,
        135e6,
        20.0,
        offset=100,
    )
    slow = candidate("slow", 152, 120e6, 20.5)  # within the noise, as cheap, fewer parameters, 5x the training
    quick["projected_train_seconds"], slow["projected_train_seconds"] = 600.0, 3000.0
    result = rank([slow, quick], "classification", "accuracy")
    assert result["pick"] == "quick"
    said = " ".join(result["reasons"])
    assert "Projected training time of the full run" in said and "quick 10.0 min" in said and "slow 50.0 min" in said
    quick["projected_train_seconds"] = 2500.0  # within 1.5x: then the smaller model, as before
    assert rank([slow, quick], "classification", "accuracy")["pick"] == "slow"


def test_a_pick_whose_full_run_does_not_fit_the_memory_is_not_the_one_a_run_fine_tunes():
    big = candidate("big", 240, 1.7e9, 30.0)
    small = candidate("small", 200, 135e6, 20.0)
    big["kind"], small["kind"] = "decoder", "decoder"
    big["train_memory"] = {
        "planned_peak_bytes": 30 * 2**30,
        "fits": False,
        "device": "cpu",
        "device_memory": 24 * 2**30,
    }
    small["train_memory"] = {
        "planned_peak_bytes": 2 * 2**30,
        "fits": True,
        "device": "cpu",
        "device_memory": 24 * 2**30,
    }
    result = rank([big, small], "classification", "accuracy")
    assert result["pick"] == "big" and result["train_pick"] == "small"
    said = " ".join(result["reasons"])
    assert "big's full run does not fit this device's memory" in said and "fine-tunes small" in said
    assert "does not fit this cpu's 24.0 GiB for: big 30.0 GiB" in said
    big["train_memory"]["fits"] = True  # when it fits, the best is the one trained
    assert rank([big, small], "classification", "accuracy")["train_pick"] == "big"
