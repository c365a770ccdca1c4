import pytest

from tunewise.config import EvalConfig
from tunewise.evaluate.verdict import decide, evidence_warnings, generalization


def classification_metrics(n=200, gain=0.3, ci_low=0.2, p=1e-6, mde=0.1, worst=0.8, majority=0.1):
    tuned = {"n": n, "accuracy": 0.9, "accuracy_ci": [0.85, 0.95], "majority_share": majority}
    return {
        "tuned": tuned,
        "comparison": {
            "metric": "accuracy",
            "test": "mcnemar_exact",
            "gain": gain,
            "ci_low": ci_low,
            "ci_high": gain + 0.1,
            "p_value": p,
            "mde": mde,
            "n": n,
        },
        "slices": [{"field": "label", "value": "rare", "n": 12, "score": worst, "ci": [0.5, 1.0]}],
    }


GOOD_GAP = {
    "step": 40,
    "train_loss": 0.3,
    "validation_loss": 0.4,
    "gap": 0.1,
    "overfit_after_best": False,
    "final_validation_loss": 0.4,
    "final_step": 40,
}


def test_a_clear_significant_gain_is_a_go():
    decision = decide("classification", classification_metrics(), GOOD_GAP, {}, EvalConfig())
    assert decision["verdict"] == "go" and decision["deciding"] == []
    assert all(c["passed"] for c in decision["checks"])


@pytest.mark.parametrize(
    "changes, deciding",
    [
        ({"ci_low": -0.01, "p": 0.08}, ["gain_over_base"]),
        ({"n": 60}, ["test_size"]),
        ({"worst": 0.3}, ["worst_slice"]),
        ({"n": 60, "worst": 0.3}, ["test_size", "worst_slice"]),
    ],
)
def test_each_failed_blocking_check_is_named(changes, deciding):
    decision = decide("classification", classification_metrics(**changes), GOOD_GAP, {}, EvalConfig())
    assert decision["verdict"] == "no-go" and decision["deciding"] == deciding


def test_overfitting_gap_blocks_and_says_so():
    gap = {**GOOD_GAP, "validation_loss": 1.2, "gap": 0.9}
    decision = decide("classification", classification_metrics(), gap, {}, EvalConfig())
    assert decision["deciding"] == ["generalization_gap"]
    check = next(c for c in decision["checks"] if c["check"] == "generalization_gap")
    assert "gap +0.900" in check["message"]


def test_target_and_slice_threshold_come_from_the_config():
    cfg = EvalConfig(target=0.95, min_slice_score=0.85)
    decision = decide("classification", classification_metrics(), GOOD_GAP, {}, cfg)
    assert decision["deciding"] == ["worst_slice", "target"]
    # a slice smaller than min_slice_rows never decides
    small = decide("classification", classification_metrics(worst=0.0), GOOD_GAP, {}, EvalConfig(min_slice_rows=50))
    assert small["verdict"] == "go"


def test_a_failing_label_slice_says_whether_its_data_is_scarce():
    def message(support):
        decision = decide(
            "classification", classification_metrics(worst=0.3), GOOD_GAP, {}, EvalConfig(), support=support
        )
        return next(c["message"] for c in decision["checks"] if c["check"] == "worst_slice")

    scarce = message({"rare": 12, "a": 100, "b": 90, "c": 110})
    assert "rare has 12 distinct training inputs (median per label 100): collect more real, varied rows" in scarce
    plenty = message({"rare": 80, "a": 100, "b": 90, "c": 110})
    assert "its data is not scarce, so read its confusions" in plenty
    assert "distinct training inputs" not in message(None)


def test_distinct_inputs_count_an_upsampled_copy_once(tmp_path):
    from tests.conftest import write_jsonl
    from tunewise.evaluate.verdict import distinct_inputs_per_label
    from tunewise.rundir import RunDir

    run_dir = RunDir(tmp_path)
    rows = [
        {"text": "Lost card", "label": "lost"},
        {"text": "lost card!", "label": "lost"},
        {"text": "fee?", "label": "fee"},
    ]
    run_dir.split.mkdir(parents=True)
    write_jsonl(run_dir.split_file("train"), rows + [{"text": "Where is my card", "label": "lost"}])
    assert distinct_inputs_per_label(run_dir) == {"lost": 2, "fee": 1}


def test_leakage_left_out_is_reported():
    decision = decide(
        "classification", classification_metrics(), GOOD_GAP, {"left_out_as_test_inputs": ["a", "b"]}, EvalConfig()
    )
    check = next(c for c in decision["checks"] if c["check"] == "leakage")
    assert "2 training rows repeated test inputs" in check["message"]


def test_generalization_finds_overfitting_after_the_kept_checkpoint():
    log = [
        {"step": 10, "split": "train", "loss": 1.0},
        {"step": 10, "split": "validation", "loss": 0.9},
        {"step": 20, "split": "train", "loss": 0.5},
        {"step": 20, "split": "validation", "loss": 0.6},
        {"step": 30, "split": "train", "loss": 0.2},
        {"step": 30, "split": "validation", "loss": 0.8},
    ]
    found = generalization(log, best_step=20)
    assert found["step"] == 20 and found["gap"] == pytest.approx(0.1)
    assert found["overfit_after_best"] and found["final_validation_loss"] == 0.8
    assert generalization([{"step": 1, "split": "train", "loss": 1.0}], None) is None


def test_weak_evidence_warnings_in_plain_words():
    warnings = evidence_warnings("classification", classification_metrics(n=40, majority=0.7, gain=0.05), 100)
    text = " ".join(warnings)
    assert "only 40 test rows" in text and "70 % of the test rows" in text
    assert "smaller than the smallest effect" in text
    generation = {"tuned": {"n": 500, "rougeL_ci": [0.2, 0.3], "references_per_row": 1}}
    text = " ".join(evidence_warnings("completion", generation, 100))
    assert "human review" in text and "one reference per row" in text


def _review(tuned_wins: int, base_wins: int, ties: int = 0) -> dict:
    """Results of a base-vs-tuned pairwise campaign, computed by the review statistics from these votes."""
    from tunewise.review import stats

    votes = [("base", "tuned", "b")] * tuned_wins + [("base", "tuned", "a")] * base_wins
    votes += [("tuned", "base", "tie")] * ties
    return {
        "kind": "pairwise",
        "votes": len(votes),
        "win_rates": stats.win_rates(votes),
        "agreement": {"krippendorff_alpha": {"alpha": 0.41}},
    }


def test_human_review_blocks_only_when_reviewers_prefer_the_base_model():
    preferred = decide("classification", classification_metrics(), GOOD_GAP, {}, EvalConfig(), _review(30, 10, 4))
    check = next(c for c in preferred["checks"] if c["check"] == "human_review")
    assert check["passed"] and preferred["verdict"] == "go"
    assert (
        "preferred the tuned model in 30 of 40 decisive votes" in check["message"] and "alpha 0.41" in check["message"]
    )
    unclear = decide("classification", classification_metrics(), GOOD_GAP, {}, EvalConfig(), _review(9, 11))
    assert unclear["verdict"] == "go"  # inside the noise: no reason to stop
    rejected = decide("classification", classification_metrics(), GOOD_GAP, {}, EvalConfig(), _review(8, 32))
    assert rejected["deciding"] == ["human_review"] and "prefer the base model" in rejected["checks"][-1]["message"]


def with_baselines(metrics: dict, **scores_and_intervals) -> dict:
    """Baselines named with (accuracy, ci_low of the tuned model's paired gain over them)."""
    metrics["rows_per_second"] = {"tuned": 40.0}
    metrics["baselines"] = {
        name: {
            "accuracy": accuracy,
            "fit_seconds": 12.0,
            "rows_per_second": 900.0,
            "comparison": {"gain": 0.9 - accuracy, "ci_low": low, "ci_high": low + 0.05, "p_value": 0.01, "test": "t"},
        }
        for name, (accuracy, low) in scores_and_intervals.items()
    }
    return metrics


def test_a_fine_tune_that_beats_every_baseline_is_a_go():
    metrics = with_baselines(classification_metrics(), majority=(0.1, 0.7), embedding_lr=(0.85, 0.01))
    decision = decide("classification", metrics, GOOD_GAP, {}, EvalConfig())
    check = next(c for c in decision["checks"] if c["check"] == "beats_baselines")
    assert decision["verdict"] == "go" and check["passed"]
    assert "strongest baseline, embedding_lr, 0.850" in check["message"]


def test_losing_to_the_strongest_baseline_is_a_no_go_that_names_what_to_ship():
    metrics = with_baselines(classification_metrics(), majority=(0.1, 0.7), embedding_lr=(0.92, -0.06))
    decision = decide("classification", metrics, GOOD_GAP, {}, EvalConfig())
    check = next(c for c in decision["checks"] if c["check"] == "beats_baselines")
    assert decision["verdict"] == "no-go" and decision["deciding"] == ["beats_baselines"]
    assert (
        "ship embedding_lr instead: it fits in 12 s and serves 900 rows/s (the tuned model 40 rows/s)"
        in (check["message"])
    )


def test_no_baselines_no_baseline_check():
    decision = decide("classification", classification_metrics(), GOOD_GAP, {}, EvalConfig())
    assert "beats_baselines" not in {c["check"] for c in decision["checks"]}
