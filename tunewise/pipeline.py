"""`tunewise run`: split → train → evaluate, each stage writing its own folder of the run directory.

run_dir/
  config.yaml                 resolved config
  split/  train.jsonl validation.jsonl test.jsonl manifest.json (SHA-256s, sizes, label counts, skipped rows)
  train/  metrics.jsonl checkpoint/ (best adapter or full weights) result.json
  evaluate/  predictions.jsonl metrics.json
  summary.json
"""

from __future__ import annotations

import json
import platform
import time
from collections import Counter
from pathlib import Path

import yaml

from tunewise._io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    read_jsonl,
    sha256_file,
)
from tunewise._progress import console
from tunewise.config import TunewiseConfig
from tunewise.data.formats import input_text, to_conversation
from tunewise.data.load import load_data, load_eval_data
from tunewise.data.split import check_fractions, duplicate_groups, split_indices, without_test_inputs
from tunewise.errors import TunewiseError


def run(cfg: TunewiseConfig, run_dir: Path | None = None, resume: bool = False) -> dict:
    """Run the whole pipeline and return the summary (also written to run_dir/summary.json). With ``resume``,
    an interrupted run continues training from its last complete checkpoint (same config, same seed)."""
    run_dir = Path(run_dir or cfg.run_dir())
    start = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg, selection = _choose_model(cfg, run_dir / "select")
    if resume:
        _check_same_config(run_dir, _resolved(cfg))
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(_resolved(cfg), sort_keys=False))
    model_path, renderer = _model_and_renderer(cfg)
    splits, task = split_stage(cfg, run_dir / "split")  # every process: the same seed gives the same split
    main_process = _is_main_process()
    if cfg.audit.in_run and main_process:
        audit_stage(cfg, model_path, run_dir / "audit")
    result = train_stage(cfg, model_path, renderer, splits, task, run_dir / "train", resume)
    if not main_process:
        return {}  # under `accelerate launch` the main process evaluates and reports, once
    metrics = evaluate_stage(cfg, model_path, renderer, splits, task, result.checkpoint, run_dir / "evaluate")
    looked = _record_test_access(cfg, run_dir, "run")
    summary = {
        "task": task,
        "model": cfg.model.name,
        "method": cfg.train.method,
        "split": {name: len(rows) for name, rows in splits.items()},
        **_headline(metrics),
        "warnings": metrics["warnings"] + looked,
        "decision": decide_run(cfg, run_dir, task, metrics),
        **({"selection": {k: selection[k] for k in ("pick", "ranking", "reasons")}} if selection else {}),
        "train": {
            "steps": result.steps,
            "best_step": result.best_step,
            "best_val_loss": result.best_val_loss,
            "stopped_early": result.stopped_early,
            "truncated_rows": result.truncated_rows,
            "train_tokens": result.train_tokens,
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    atomic_write_json(run_dir / "summary.json", summary)
    from tunewise.report import write_report

    write_report(run_dir)
    return summary


def _choose_model(cfg: TunewiseConfig, out: Path) -> tuple[TunewiseConfig, dict | None]:
    """model.name: auto becomes the pick of the base-model selection (measured once, then cached). Under a
    distributed launch the main process selects first; the others then find every measurement cached."""
    if cfg.model.name != "auto":
        return cfg, None
    import torch
    from accelerate import PartialState

    from tunewise.select import with_selected_model

    with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
        return with_selected_model(cfg, out)


def _check_same_config(run_dir: Path, resolved: dict) -> None:
    """Resuming is only sound with the config the interrupted run started with."""
    saved_file = run_dir / "config.yaml"
    if not saved_file.exists():
        raise TunewiseError(f"--resume: {run_dir} holds no interrupted run (no config.yaml)")
    saved, now = _flat(yaml.safe_load(saved_file.read_text(encoding="utf-8")) or {}), _flat(resolved)
    changed = sorted(key for key in saved.keys() | now.keys() if saved.get(key) != now.get(key))
    if changed:
        raise TunewiseError(f"--resume: the config differs from the interrupted run's ({', '.join(changed)})")


def _flat(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value) and not prefix:
            flat.update(_flat(value, f"{key}."))
        else:
            flat[prefix + key] = value
    return flat


def evaluate_run(run_dir: Path, split: str = "test", compare_base: bool | None = None) -> dict:
    """`tunewise eval`: evaluate a finished run's checkpoint (and the base model) on one of its splits again.
    On the test split this also logs the look and refreshes summary.json with the new numbers and decision."""
    cfg = load_run_config(run_dir)
    if compare_base is not None:
        cfg.eval.compare_base = compare_base
    splits = {}
    for name in ("train", "validation", "test"):
        path = run_dir / "split" / f"{name}.jsonl"
        if not path.exists():
            raise TunewiseError(f"{path}: missing; the run's split stage did not finish (rerun tunewise run)")
        splits[name] = read_jsonl(path)
    checkpoint = run_dir / "train" / "checkpoint"
    if not checkpoint.is_dir():
        raise TunewiseError(f"{checkpoint}: missing; the run's training did not finish (rerun tunewise run)")
    task = json.loads((run_dir / "split" / "manifest.json").read_text())["task"]
    model_path, renderer = _model_and_renderer(cfg)
    out = run_dir / ("evaluate" if split == "test" else f"evaluate-{split}")
    start = time.perf_counter()
    metrics = evaluate_stage(cfg, model_path, renderer, splits, task, checkpoint, out, split)
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    update = {"task": task, "model": cfg.model.name, "method": cfg.train.method, **_headline(metrics)}
    if split != "test":
        return {
            **summary,
            **update,
            "split_evaluated": split,
            "warnings": metrics["warnings"],
            "seconds": round(time.perf_counter() - start, 1),
        }
    looked = _record_test_access(cfg, run_dir, "eval")
    for stale in ("base", "comparison"):  # absent from this evaluation (e.g. --no-base): not kept from the last
        summary.pop(stale, None)
    summary.update(update, warnings=metrics["warnings"] + looked, decision=decide_run(cfg, run_dir, task, metrics))
    atomic_write_json(summary_file, summary)
    return {**summary, "seconds": round(time.perf_counter() - start, 1)}


def load_run_config(run_dir: Path) -> TunewiseConfig:
    path = run_dir / "config.yaml"
    if not path.exists():
        raise TunewiseError(f"{run_dir}: not a tunewise run directory (no config.yaml)")
    return TunewiseConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _headline(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key in ("base", "tuned", "comparison")}


def decide_run(cfg, run_dir: Path, task: str, metrics: dict) -> dict:
    """The go/no-go decision from what the run directory holds: metrics, training log, split manifest."""
    from tunewise.evaluate.verdict import decide, generalization

    train_log = read_jsonl(run_dir / "train" / "metrics.jsonl", missing_ok=True)
    result_file = run_dir / "train" / "result.json"
    best_step = json.loads(result_file.read_text())["best_step"] if result_file.exists() else None
    manifest = json.loads((run_dir / "split" / "manifest.json").read_text())
    review, baseline = (_json_or_none(run_dir / part) for part in ("review/results.json", "baseline/comparison.json"))
    return decide(task, metrics, generalization(train_log, best_step), manifest, cfg.eval, review, baseline)


def _json_or_none(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _record_test_access(cfg, run_dir: Path, command: str) -> list[str]:
    """Log this look at the test split; return a warning when the test set has been looked at too often."""
    from tunewise.evaluate.access import looks_warning, record_access

    # the resolved form (absolute paths), as saved in run_dir/config.yaml, so `run` and `eval` agree
    entry = record_access(run_dir, run_dir / "split" / "test.jsonl", _resolved(cfg), command)
    warning = looks_warning(run_dir, entry, cfg.eval.max_test_looks)
    if warning:
        console.print(f"[yellow]warning[/] {warning}")
    return [warning] if warning else []


def audit_stage(cfg: TunewiseConfig, model_path: str, out: Path) -> dict:
    """Audit the training data (against the test file, if any); the findings inform the report, and the
    split stage already keeps duplicates together and test inputs out of training."""
    from tunewise.data.audit import audit_file
    from tunewise.data.audit.report import html

    against = [cfg.resolve_path(cfg.data.test_path)] if cfg.data.test_path else []
    result, _ = audit_file(cfg, cfg.resolve_path(cfg.data.path), against, model_path)
    found = result.to_json()
    atomic_write_json(out / "findings.json", found)
    atomic_write_text(out / "audit.html", html(result))
    flagged = {f.check: len(f.rows) for f in result.findings if f.rows}
    console.print(
        f"audit: {found['summary']['flagged_rows']} of {result.rows} rows flagged"
        + (f" ({', '.join(f'{k} {v}' for k, v in flagged.items())}); see {out / 'audit.html'}" if flagged else "")
    )
    return found


def split_stage(
    cfg: TunewiseConfig, out: Path, override_hint: str = "set split.allow_small_holdout=true"
) -> tuple[dict[str, list[dict]], str]:
    """Load the data (and the test file if any), split it, and write the splits with a manifest."""
    data_path = cfg.resolve_path(cfg.data.path)
    if data_path is None:
        raise TunewiseError("config: data.path is required")
    loaded = load_data(cfg.data, data_path)
    records, task = loaded.records, loaded.task
    test_path = cfg.resolve_path(cfg.data.test_path)
    held_out = load_eval_data(cfg.data, test_path, task) if test_path else None
    leaked: list[dict] = []
    if held_out:
        records, leaked = without_test_inputs(records, held_out.records, task, cfg.audit.leakage_threshold)
        if leaked:
            console.print(
                f"[yellow]warning[/] {len(leaked)} rows of {data_path} have the same or a near-identical input as "
                f"a row of {test_path}; they are left out of training (listed in split/manifest.json)"
            )
    if not cfg.split.allow_small_holdout:
        check_fractions(cfg.split.validation, cfg.split.test, held_out is not None, override_hint)
    fractions = (cfg.split.validation, 0.0 if held_out else cfg.split.test)
    groups = _groups(cfg, records, task)
    indices = split_indices(records, task, *fractions, seed=cfg.seed, groups=groups)
    splits = {name: [records[i] for i in rows] for name, rows in indices.items()}
    if held_out:
        splits["test"] = held_out.records
    for name, rows in splits.items():
        if not rows:
            raise TunewiseError(
                f"{data_path}: the {name} split is empty: {len(records)} rows in {len(set(groups))} groups of "
                f"duplicates/near duplicates (per label) are too few to split with split.validation="
                f"{cfg.split.validation}, split.test={cfg.split.test}"
            )
        atomic_write_jsonl(out / f"{name}.jsonl", rows)
    sources = [loaded] + ([held_out] if held_out else [])
    atomic_write_json(
        out / "manifest.json",
        {
            "task": task,
            "seed": cfg.seed,
            "inputs": {s.source: {"sha256": sha256_file(Path(s.source)), "rows": len(s.records)} for s in sources},
            "skipped": [line for s in sources for line in s.skipped],
            "left_out_as_test_inputs": [input_text(r, task) for r in leaked],
            "sizes": {name: len(rows) for name, rows in splits.items()},
            "label_counts": _label_counts(splits) if task == "classification" else None,
            "outputs": {f"{name}.jsonl": sha256_file(out / f"{name}.jsonl") for name in splits},
            "versions": _versions(),
        },
    )
    for line in loaded.skipped + (held_out.skipped if held_out else []):
        console.print(f"[yellow]skipped[/] {line}")
    return splits, task


def _groups(cfg, records: list[dict], task: str) -> list[str]:
    """Group keys so that duplicates, near duplicates (and optionally paraphrases) share a split."""
    from tunewise.data.dedup import clusters_from_pairs, near_duplicate_clusters
    from tunewise.data.formats import normalize

    clusters: list[list[int]] = []
    texts = [normalize(input_text(r, task)) for r in records]
    if cfg.split.group_near_duplicates:
        clusters += near_duplicate_clusters(texts, cfg.audit.near_duplicate_threshold)
    if cfg.split.group_semantic_duplicates:
        from tunewise.data.embed import embed, similar_pairs

        pairs = similar_pairs(embed([input_text(r, task) for r in records]), cfg.audit.semantic_threshold)
        clusters += clusters_from_pairs(len(records), pairs)
    return duplicate_groups(texts, clusters)


def train_stage(cfg, model_path, renderer, splits, task, out: Path, resume: bool = False):
    from tunewise.train import fine_tune
    from tunewise.train.dpo import preference_tune

    limit = cfg.model.max_length
    splits = {**splits, "validation": eval_sample(splits["validation"], cfg.train.validation_rows, cfg.seed)}
    if task == "preference":
        train, validation = splits["train"], splits["validation"]
        tune, cut = preference_tune, f"prompts were longer than half of model.max_length={limit} and were cut"
    else:  # training never reads the test split
        train, validation = (
            [to_conversation(r, task, cfg.model.instruction) for r in splits[name]] for name in ("train", "validation")
        )
        tune, cut = fine_tune, f"rows were longer than model.max_length={limit} and were truncated"
    result = tune(model_path, renderer, train, validation, cfg.train, limit, cfg.seed, out, resume)
    if result.truncated_rows:
        console.print(f"[yellow]warning[/] {result.truncated_rows} training {cut}")
    atomic_write_json(out / "result.json", {**result.__dict__, "checkpoint": str(result.checkpoint)})
    return result


def learning_curve(cfg: TunewiseConfig, out: Path, fractions: list[float]) -> dict:
    """Train on nested subsets of the training split (same settings, the same number of epochs, hence the same
    budget per example) and score each on the same validation rows; writes out/curve.json and curve.png."""
    from tunewise.evaluate.metrics import compare_scores, headline_keys, row_scores
    from tunewise.evaluate.stats import mean_ci
    from tunewise.report.plots import learning_curve_plot
    from tunewise.train.curve import nested_subsets, read_curve

    if not fractions or any(not 0 < f <= 1 for f in fractions) or len(set(fractions)) < 2:
        raise TunewiseError("--fractions: give at least two different fractions in (0, 1], e.g. 0.25 0.5 1")
    cfg, _ = _choose_model(cfg, out / "select")
    model_path, renderer = _model_and_renderer(cfg)
    splits, task = split_stage(cfg, out / "split")
    if task == "preference":
        raise TunewiseError("learning-curve: preference data is not supported yet (classification and generation are)")
    validation = eval_sample(splits["validation"], cfg.eval.max_rows, cfg.seed)
    references = _references(cfg, validation, task)
    points, per_row = [], []
    for fraction, subset in nested_subsets(splits["train"], fractions, cfg.seed).items():
        scaled = cfg.model_copy(deep=True)
        if cfg.train.max_steps:  # same steps per example
            scaled.train.max_steps = max(1, round(cfg.train.max_steps * fraction))
        subset_splits = {**splits, "train": subset}
        result = train_stage(scaled, model_path, renderer, subset_splits, task, out / f"train-{fraction:g}")
        model = _load_for_eval(model_path, result.checkpoint, cfg)
        scores = row_scores(task, references, _predict(cfg, model, renderer, validation, task, splits))
        per_row.append(scores)
        points.append(
            {
                "fraction": fraction,
                "train_rows": len(subset),
                "steps": result.steps,
                "best_val_loss": result.best_val_loss,
                "score": sum(scores) / len(scores),
                "score_ci": mean_ci(scores),
            }
        )
    metric = headline_keys(task)[0]
    comparison = compare_scores(task, per_row[-2], per_row[-1])
    curve = {"task": task, "metric": metric, "validation_rows": len(validation), "points": points}
    curve |= {"comparison": comparison, "reading": read_curve(points, comparison, metric)}
    atomic_write_json(out / "curve.json", curve)
    atomic_write_bytes(out / "curve.png", learning_curve_plot(points, metric))
    return curve


def _is_main_process() -> bool:
    """False on the other processes of an `accelerate launch`/torchrun job (and True when not distributed)."""
    import torch
    from accelerate import PartialState

    # the same device choice the Trainer makes (use_cpu without CUDA): the shared state is created once
    return PartialState(cpu=not torch.cuda.is_available()).is_main_process


def evaluate_preference(cfg, model_path, renderer, rows: list[dict], checkpoint: Path) -> dict:
    """Preference accuracy on held-out pairs. The tuned model is scored by DPO's implicit reward against the
    base model (what preference tuning changed), the base model by its own likelihood (what it prefers
    before tuning); the tuned model's likelihood preference is reported too."""
    from tunewise.evaluate.forgetting import forgetting_probe
    from tunewise.evaluate.preference import accuracy_of, compare_preference, pair_logprobs
    from tunewise.train.dpo import fit_preference_row

    rows = [fit_preference_row(renderer, r, cfg.model.max_length)[0] for r in rows]  # as DPO saw them
    base_model, tuned_model = _load_for_eval(model_path, None, cfg), _load_for_eval(model_path, checkpoint, cfg)
    base = pair_logprobs(base_model, renderer, rows, cfg.eval.batch_size)
    tuned = pair_logprobs(tuned_model, renderer, rows, cfg.eval.batch_size)
    base_likelihood, tuned_likelihood = accuracy_of(base), accuracy_of(tuned)
    implicit = accuracy_of(tuned, reference=base)

    def public(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if k != "per_row"}

    return {
        "base": public(base_likelihood)
        | {
            "likelihood_preference_accuracy": base_likelihood["preference_accuracy"],
            "likelihood_preference_accuracy_ci": base_likelihood["preference_accuracy_ci"],
        },
        "tuned": public(implicit)
        | {
            "likelihood_preference_accuracy": tuned_likelihood["preference_accuracy"],
            "likelihood_preference_accuracy_ci": tuned_likelihood["preference_accuracy_ci"],
        },
        "comparison": compare_preference(base_likelihood, implicit),
        "likelihood_comparison": compare_preference(base_likelihood, tuned_likelihood),
        "slices": [],
        **(
            {"forgetting": forgetting_probe(base_model, tuned_model, renderer.tokenizer)}
            if cfg.eval.forgetting_probe
            else {}
        ),
    }


def evaluate_stage(cfg, model_path, renderer, splits, task, checkpoint: Path, out: Path, split: str = "test") -> dict:
    """Evaluate the base model (optional) and the fine-tuned checkpoint on one split: metrics with intervals,
    the paired comparison, slices and the warnings that qualify them."""
    from tunewise.evaluate.forgetting import forgetting_probe
    from tunewise.evaluate.metrics import compare_scores, custom_metrics, row_scores
    from tunewise.evaluate.slices import slice_fields, slice_metrics
    from tunewise.evaluate.verdict import evidence_warnings

    rows = eval_sample(splits[split], cfg.eval.max_rows, cfg.seed)
    if not rows:
        raise TunewiseError(f"the {split} split is empty: raise split.test or give data.test_path")
    if task == "preference":
        metrics = {"split": split, "task": task, **evaluate_preference(cfg, model_path, renderer, rows, checkpoint)}
        metrics["warnings"] = evidence_warnings(task, metrics, cfg.eval.min_test_rows)
        atomic_write_json(out / "metrics.json", metrics)
        return metrics
    models = {"base": _load_for_eval(model_path, None, cfg)} if cfg.eval.compare_base else {}
    models["tuned"] = _load_for_eval(model_path, checkpoint, cfg)
    predictions = {name: _predict(cfg, model, renderer, rows, task, splits) for name, model in models.items()}
    references = _references(cfg, rows, task)
    scores = {name: row_scores(task, references, preds) for name, preds in predictions.items()}
    metrics: dict = {"split": split, "task": task}
    for name, preds in predictions.items():
        metrics[name] = {**_score(task, references, preds), **custom_metrics(cfg.eval.metrics, references, preds)}
    if "base" in predictions:
        metrics["comparison"] = compare_scores(task, scores["base"], scores["tuned"])
    fields = slice_fields(rows, task, cfg.eval.slice_by)
    metrics["slices"] = slice_metrics(rows, scores["tuned"], fields)
    if "base" in predictions:
        base_slices = slice_metrics(rows, scores["base"], fields)
        base_score = {(s["field"], s["value"]): s["score"] for s in base_slices}
        for found in metrics["slices"]:
            found["base_score"] = base_score[(found["field"], found["value"])]
    if cfg.eval.forgetting_probe and "base" in models:
        metrics["forgetting"] = forgetting_probe(models["base"], models["tuned"], renderer.tokenizer)
    if cfg.eval.judge and "base" in predictions and task != "classification":
        metrics["judge"] = _judge(cfg, rows, task, predictions["base"], predictions["tuned"])
    metrics["warnings"] = evidence_warnings(task, metrics, cfg.eval.min_test_rows)
    atomic_write_jsonl(
        out / "predictions.jsonl",
        [
            {
                "input": input_text(r, task),
                "reference": ref,
                **{k: v[i] for k, v in predictions.items()},
                "meta": r.get("meta", {}),
            }
            for i, (r, ref) in enumerate(zip(rows, references, strict=True))
        ],
    )
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def eval_sample(rows: list[dict], max_rows: int | None, seed: int) -> list[dict]:
    """``max_rows`` rows drawn at random with ``seed`` (in their original order), or all of them."""
    if max_rows is None or max_rows >= len(rows):
        return rows
    import random

    return [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), max_rows))]


def _judge(cfg, rows: list[dict], task: str, base: list[str], tuned: list[str]) -> dict:
    """Base (system 1) vs fine-tuned (system 2) as seen by the configured judge model."""
    from tunewise.evaluate.judge import DEFAULT_RUBRIC, judge_pairs

    judge_cfg = cfg.eval.judge
    count = judge_cfg.max_rows or len(rows)
    model_path, renderer = _model_and_renderer(cfg, judge_cfg.model)
    prompts = ["\n".join(m["content"] for m in to_conversation(r, task, cfg.model.instruction)[0]) for r in rows]
    verdicts = judge_pairs(
        _load_for_eval(model_path, None, cfg),
        renderer,
        prompts[:count],
        base[:count],
        tuned[:count],
        judge_cfg.rubric or DEFAULT_RUBRIC,
    )
    return {"model": judge_cfg.model, "systems": ["base", "tuned"], **verdicts}


def _references(cfg, rows: list[dict], task: str) -> list:
    """Each row's reference answer, or its list of references when eval.references names more fields."""
    firsts = [to_conversation(r, task)[1] for r in rows]
    if not cfg.eval.references or task == "classification":
        return firsts
    found = []
    for row, first in zip(rows, firsts, strict=True):
        extra = [row.get("meta", {}).get(field) for field in cfg.eval.references]
        found.append([first] + [text for text in extra if isinstance(text, str) and text.strip()])
    return found


def _model_and_renderer(cfg, name: str | None = None, system_prompt: str | None = None):
    """The model folder and prompt renderer of the config's model (or of another model, e.g. a judge)."""
    from transformers import AutoTokenizer

    from tunewise.models.prompts import make_renderer
    from tunewise.models.registry import REGISTRY, resolve_model

    given = name or cfg.model.name
    local = cfg.resolve_path(given)
    resolved = str(local) if given not in REGISTRY and local is not None and local.is_dir() else given
    model_path = resolve_model(resolved, cfg.resolve_path(cfg.model.cache_dir))
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise TunewiseError(f"model '{given}': cannot load its tokenizer ({str(exc).splitlines()[0]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if name is not None:
        return model_path, make_renderer(tokenizer, "auto", system_prompt)
    return model_path, make_renderer(tokenizer, cfg.model.prompt_format, cfg.model.system_prompt)


def _load_for_eval(model_path: str, checkpoint: Path | None, cfg):
    import torch
    from transformers import AutoModelForCausalLM

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = eval_dtype(cfg, device)
    if checkpoint is not None and cfg.train.method == "full":
        return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype).to(device)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if checkpoint is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, checkpoint).merge_and_unload()  # merged in fp32, then cast
    return model.to(device=device, dtype=dtype)


def eval_dtype(cfg, device):
    """bf16 when eval.precision asks for it, or is auto and the device computes bf16 natively; else fp32."""
    import torch

    from tunewise.evaluate.predict import bf16_supported

    wanted = cfg.eval.precision
    return torch.bfloat16 if wanted == "bf16" or (wanted == "auto" and bf16_supported(device)) else torch.float32


def _predict(cfg, model, renderer, rows, task, splits) -> list[str]:
    from tunewise.evaluate import generate_answers, predict_labels

    prompts = [to_conversation(r, task, cfg.model.instruction)[0] for r in rows]
    if task == "classification":
        return predict_labels(model, renderer, prompts, _labels(cfg, splits), cfg.eval.batch_size)
    return generate_answers(model, renderer, prompts, cfg.eval.max_new_tokens, cfg.eval.batch_size)


def _score(task, references, predictions) -> dict:
    from tunewise.evaluate import classification_metrics, generation_metrics

    if task == "classification":
        return classification_metrics(references, predictions)
    return generation_metrics(references, predictions)


def _labels(cfg, splits) -> list[str]:
    return cfg.data.labels or sorted({r["label"] for name in ("train", "validation") for r in splits[name]})


def _resolved(cfg: TunewiseConfig) -> dict:
    """The config as it ran: defaults filled in, relative paths made absolute so the file can be rerun anywhere."""
    data = cfg.model_dump(mode="json")
    for section, key in (("data", "path"), ("data", "test_path"), ("model", "cache_dir")):
        if data[section][key]:
            data[section][key] = str(cfg.resolve_path(data[section][key]))
    local_model = cfg.resolve_path(cfg.model.name)
    if local_model is not None and local_model.is_dir():
        data["model"]["name"] = str(local_model)
    return data


def _label_counts(splits) -> dict:
    return {name: dict(sorted(Counter(r["label"] for r in rows).items())) for name, rows in splits.items()}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("tunewise", "torch", "transformers", "peft", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
