"""Plain-words warnings where a number is weak evidence, and the go/no-go verdict with the checks behind it.

Everything here reads plain dicts (the evaluation's metrics, the training log, the split manifest) so the
report can recompute it from a run directory alone (``decide_run``).
"""

from __future__ import annotations

from tunewise._io import read_jsonl
from tunewise.data.formats import input_text, normalize
from tunewise.evaluate.metrics import headline_keys
from tunewise.rundir import RunDir, read_json

ALPHA = 0.05


def evidence_warnings(task: str, metrics: dict, min_test_rows: int) -> list[str]:
    """Where the headline numbers should not be taken at face value, and why."""
    tuned, warnings = metrics["tuned"], []
    n = tuned["n"]
    if n < min_test_rows:
        low, high = tuned[f"{headline_keys(task)[0]}_ci"]
        warnings.append(
            f"only {n} test rows (fewer than eval.min_test_rows={min_test_rows}): the 95 % interval of the "
            f"headline metric is {100 * (high - low):.0f} points wide"
        )
    if task == "classification" and tuned["majority_share"] > 0.5:
        warnings.append(
            f"one class is {100 * tuned['majority_share']:.0f} % of the test rows: accuracy rewards predicting it; "
            "read macro-F1 and the per-class recall"
        )
    if task == "preference":
        warnings.append(
            "preference accuracy says the tuned model's implicit reward agrees with the recorded preferences; "
            "whether its own answers got better needs generated answers and a blind human review"
        )
    elif task != "classification":
        warnings.append(
            "ROUGE, BLEU and chrF count words shared with the references, not whether an answer is right or "
            "useful: for open-ended outputs, do a blind human review of the outputs before deciding"
        )
        if tuned.get("references_per_row", 1) == 1:
            warnings.append("one reference per row: n-gram scores punish valid paraphrases (give eval.references)")
    judge = metrics.get("judge")
    if judge and judge["flip_rate"] > 0.3:
        warnings.append(
            f"the judge ({judge['model']}) changed its verdict with the answers' order on "
            f"{100 * judge['flip_rate']:.0f} % of rows: its preferences are weak evidence"
        )
    comparison = metrics.get("comparison")
    if comparison and abs(comparison["gain"]) < comparison["mde"]:
        warnings.append(
            f"the observed {comparison['metric']} difference ({comparison['gain']:+.3f}) is smaller than the "
            f"smallest effect {comparison['n']} rows can reliably detect ({comparison['mde']:.3f})"
        )
    return warnings


def generalization(train_log: list[dict], best_step: int | None) -> dict | None:
    """Training and validation loss at the kept checkpoint, their gap, and whether validation loss rose while
    training loss kept falling afterwards (overfitting the guards stopped or rolled back)."""
    train = [r for r in train_log if r.get("split") == "train"]
    validation = [r for r in train_log if r.get("split") == "validation"]
    if not train or not validation:
        return None
    best = min(validation, key=lambda r: r["loss"]) if best_step is None else _at(validation, best_step)
    train_at_best = _at(train, best["step"])
    later = [r for r in validation if r["step"] > best["step"]]
    later_train = [r for r in train if r["step"] > best["step"]]
    rose = bool(later) and later[-1]["loss"] > best["loss"]
    fell = bool(later_train) and later_train[-1]["loss"] < train_at_best["loss"]
    return {
        "step": best["step"],
        "train_loss": train_at_best["loss"],
        "validation_loss": best["loss"],
        "gap": best["loss"] - train_at_best["loss"],
        "overfit_after_best": rose and fell,
        "final_validation_loss": validation[-1]["loss"],
        "final_step": validation[-1]["step"],
    }


def _at(rows: list[dict], step: int) -> dict:
    """The logged row nearest to ``step``."""
    return min(rows, key=lambda r: abs(r["step"] - step))


def decide_run(cfg, run_dir: RunDir, task: str, metrics: dict) -> dict:
    """The go/no-go decision from what the run directory holds: metrics, training log, split manifest and splits,
    the human review and the comparison with a baseline run."""
    result = read_json(run_dir.train_result)
    best_step = result["best_step"] if result else None
    gap = generalization(read_jsonl(run_dir.train_log, missing_ok=True), best_step)
    manifest = read_json(run_dir.manifest)
    leaks = shared_inputs(run_dir, task)
    review, baseline = read_json(run_dir.review_results), read_json(run_dir.comparison)
    support = distinct_inputs_per_label(run_dir) if task == "classification" else None
    return decide(task, metrics, gap, manifest, cfg.eval, review, baseline, leaks, support)


def distinct_inputs_per_label(run_dir: RunDir) -> dict[str, int]:
    """Distinct training inputs per label (upsampled copies count once: they add no new wording)."""
    train = run_dir.split_file("train")
    if not train.exists():
        return {}
    seen: dict[str, set[str]] = {}
    for row in read_jsonl(train):
        seen.setdefault(str(row["label"]), set()).add(normalize(input_text(row, "classification")))
    return {label: len(inputs) for label, inputs in seen.items()}


def shared_inputs(run_dir: RunDir, task: str) -> int:
    """Training rows whose normalised input is also a test input, read from the split files themselves."""
    train, test = (run_dir.split_file(name) for name in ("train", "test"))
    if not train.exists() or not test.exists():
        return 0
    test_inputs = {normalize(input_text(r, task)) for r in read_jsonl(test)}
    return sum(normalize(input_text(r, task)) in test_inputs for r in read_jsonl(train))


def decide(
    task: str,
    metrics: dict,
    gap: dict | None,
    manifest: dict,
    eval_cfg,
    review: dict | None = None,
    baseline: dict | None = None,
    leaks: int = 0,
    support: dict[str, int] | None = None,
) -> dict:
    """Go or no-go: every check with whether it passed, whether it blocks, and the numbers in words. ``review`` is
    a human-review campaign's results (`tunewise review results --out RUN/review/results.json`), ``baseline`` a
    comparison with another run (`tunewise compare`), ``leaks`` the training rows that repeat a test input,
    ``support`` the distinct training inputs per label (classification)."""
    checks = [
        _gain_check(metrics.get("comparison"), metrics.get("base_skipped")),
        _size_check(metrics["tuned"]["n"], eval_cfg.min_test_rows),
        _gap_check(gap, eval_cfg.max_generalization_gap),
        _leakage_check(manifest, leaks),
        _slice_check(task, metrics.get("slices", []), eval_cfg, support or {}),
    ]
    if metrics.get("baselines"):
        checks.append(_beats_baselines_check(task, metrics))
    if metrics.get("forgetting"):
        checks.append(_forgetting_check(metrics["forgetting"], eval_cfg.max_perplexity_increase))
    if baseline:
        checks.append(_baseline_check(baseline))
    if review and review.get("kind") == "pairwise" and review.get("votes"):
        checks.append(_human_review_check(review))
    if eval_cfg.target is not None:
        score = metrics["tuned"][headline_keys(task)[0]]
        checks.append(
            _check(
                "target", score >= eval_cfg.target, True, f"tuned score {score:.3f} vs eval.target {eval_cfg.target}"
            )
        )
    blocking = [c for c in checks if c["blocking"] and not c["passed"]]
    return {"verdict": "no-go" if blocking else "go", "checks": checks, "deciding": [c["check"] for c in blocking]}


def _check(name: str, passed: bool, blocking: bool, message: str) -> dict:
    return {"check": name, "passed": bool(passed), "blocking": blocking, "message": message}


def _gain_check(comparison: dict | None, skipped: str | None = None) -> dict:
    if skipped:
        return _check("gain_over_base", True, False, f"no base model to compare: {skipped}")
    if not comparison:
        return _check("gain_over_base", False, True, "not compared with the base model (eval.compare_base is off)")
    significant = comparison["ci_low"] > 0 and comparison["p_value"] < ALPHA
    return _check(
        "gain_over_base",
        significant,
        True,
        f"{comparison['metric']} {comparison['gain']:+.3f} over the base model, 95 % CI "
        f"[{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}], p = {comparison['p_value']:.2g} "
        f"({comparison['test']}); smallest detectable effect {comparison['mde']:.3f}"
        + ("" if significant else ": not a significant gain"),
    )


def _size_check(n: int, minimum: int) -> dict:
    return _check("test_size", n >= minimum, True, f"{n} test rows (eval.min_test_rows = {minimum})")


def _gap_check(gap: dict | None, limit: float) -> dict:
    if gap is None:
        return _check("generalization_gap", True, False, "no validation loss was logged")
    message = (
        f"at the kept checkpoint (step {gap['step']}) validation loss {gap['validation_loss']:.3f} vs training loss "
        f"{gap['train_loss']:.3f}: gap {gap['gap']:+.3f} (limit eval.max_generalization_gap = {limit})"
    )
    if gap["overfit_after_best"]:
        message += (
            f"; afterwards validation loss rose to {gap['final_validation_loss']:.3f} by step {gap['final_step']} "
            "while training loss fell: overfitting, rolled back to the kept checkpoint"
        )
    return _check("generalization_gap", gap["gap"] <= limit, True, message)


def _beats_baselines_check(task: str, metrics: dict) -> dict:
    """The tuned model must beat the strongest cheap baseline on the same rows, the paired interval above 0; when it
    does not, say which baseline to ship instead and what it costs."""
    key = headline_keys(task)[0]
    name, best = max(metrics["baselines"].items(), key=lambda item: item[1][key])
    c, tuned = best["comparison"], metrics["tuned"]
    beats = c["ci_low"] > 0
    message = (
        f"{key} {tuned[key]:.3f} vs the strongest baseline, {name}, {best[key]:.3f}: {c['gain']:+.3f} "
        f"(95 % CI [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], p = {c['p_value']:.2g}, {c['test']})"
    )
    if beats:
        return _check("beats_baselines", True, True, message)
    cost = f"it fits in {best['fit_seconds']:.0f} s and serves {best['rows_per_second']:.0f} rows/s"
    tuned_speed = metrics.get("rows_per_second", {}).get("tuned")
    if tuned_speed:
        cost += f" (the tuned model {tuned_speed:.0f} rows/s)"
    return _check("beats_baselines", False, True, f"{message}: not a significant gain; ship {name} instead: {cost}")


def _forgetting_check(forgetting: dict, limit: float) -> dict:
    change = forgetting["relative_change"]
    return _check(
        "forgetting",
        change <= limit,
        False,
        f"perplexity on {forgetting['texts']} general-text paragraphs {forgetting['base_perplexity']:.1f} → "
        f"{forgetting['tuned_perplexity']:.1f} ({100 * change:+.0f} %; eval.max_perplexity_increase = "
        f"{100 * limit:.0f} %)" + ("" if change <= limit else ": the tuning overwrote some general ability"),
    )


def _baseline_check(baseline: dict) -> dict:
    """This run against another run's model on the same rows: blocks only when this run is significantly worse."""
    c = baseline["comparison"]
    significant = c["p_value"] < ALPHA and (c["ci_low"] > 0 or c["ci_high"] < 0)
    message = (
        f"{c['metric']} {c['gain']:+.3f} over the baseline run {baseline['baseline']}, 95 % CI "
        f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], p = {c['p_value']:.2g} ({c['test']})"
    )
    worse = significant and c["gain"] < 0
    message += ": significantly worse" if worse else (": a significant gain" if significant else ": not significant")
    return _check("beats_baseline_run", not worse, True, message)


def _human_review_check(review: dict) -> dict:
    """Blind pairwise votes of base vs tuned: blocks only when reviewers significantly prefer the base model."""
    tuned = review["win_rates"].get("tuned")
    alpha = review["agreement"]["krippendorff_alpha"]["alpha"]
    agreement = f"Krippendorff's alpha {alpha:.2f}" if alpha is not None else "agreement not measurable yet"
    if tuned is None or "base" not in review["win_rates"] or tuned["win_rate"] is None:
        return _check(
            "human_review", True, False, f"{review['votes']} votes, none deciding base vs tuned ({agreement})"
        )
    low, high = tuned["win_rate_ci"]
    decisive = tuned["wins"] + tuned["losses"]
    message = (
        f"blind reviewers preferred the tuned model in {tuned['wins']} of {decisive} decisive votes (win rate "
        f"{tuned['win_rate']:.2f}, 95 % Wilson [{low:.2f}, {high:.2f}]; {tuned['ties']} ties, {tuned['both_bad']} "
        f"both bad; {agreement})"
    )
    if high < 0.5:
        message += ": reviewers prefer the base model"
    return _check("human_review", high >= 0.5, True, message)


def _leakage_check(manifest: dict, leaks: int) -> dict:
    if leaks:
        return _check("leakage", False, True, f"{leaks} training rows repeat a test input: the test score is inflated")
    leaked = len(manifest.get("left_out_as_test_inputs", []))
    if leaked:
        return _check(
            "leakage", True, True, f"{leaked} training rows repeated test inputs; they were left out of training"
        )
    return _check(
        "leakage", True, True, "no training input repeats or nearly repeats a test input (checked by the split stage)"
    )


def _slice_check(task: str, slices: list[dict], eval_cfg, support: dict[str, int]) -> dict:
    threshold = eval_cfg.min_slice_score
    if threshold is None and task == "classification":
        threshold = 0.5
    sized = [s for s in slices if s["n"] >= eval_cfg.min_slice_rows]
    if threshold is None or not sized:
        return _check("worst_slice", True, False, "no slice threshold (eval.min_slice_score) or no slice large enough")
    worst = sized[0]
    passed = worst["score"] >= threshold
    message = (
        f"worst slice {worst['field']}={worst['value']}: {worst['score']:.3f} on {worst['n']} rows "
        f"(eval.min_slice_score = {threshold}, slices of at least {eval_cfg.min_slice_rows} rows)"
    )
    if not passed and worst["field"] == "label" and support:
        message += _support_advice(str(worst["value"]), support)
    return _check("worst_slice", passed, True, message)


def _support_advice(label: str, support: dict[str, int]) -> str:
    """What the failing label had to learn from, against the typical label, and the next step that follows."""
    own, median = support.get(label, 0), sorted(support.values())[len(support) // 2]
    said = f"; {label} has {own} distinct training inputs (median per label {median})"
    if own * 2 <= median:
        return said + f": collect more real, varied rows of {label} (upsampled copies add no new wording)"
    return said + ": its data is not scarce, so read its confusions (which labels take its rows) and its labels"
