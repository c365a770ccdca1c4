"""Orchestration: `tunewise run` (select → split → audit → train → evaluate → report), `tunewise eval` (the
evaluate stage of a finished run again), `tunewise predict` (a finished run's model on new rows) and
`tunewise learning-curve`. Each stage lives in its own package and
writes its own folder of the run directory (see ``tunewise.rundir``); this module only calls them in order."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import yaml

from tunewise._io import (
    atomic_write_files,
    atomic_write_json,
    atomic_write_text,
    json_text,
    jsonl_text,
    replace_dir,
)
from tunewise._progress import console
from tunewise.config import TunewiseConfig
from tunewise.data.audit import check_settings
from tunewise.data.audit.stage import audit_stage
from tunewise.data.split import class_labels, sample_rows, write_split
from tunewise.errors import TunewiseError
from tunewise.evaluate.access import record_look
from tunewise.evaluate.metrics import compare_scores, headline_keys, row_scores
from tunewise.evaluate.stage import (
    evaluate_stage,
    model_predictions,
    reference_answers,
    tuned_answers,
    tuned_predictions,
)
from tunewise.evaluate.stats import mean_ci
from tunewise.evaluate.verdict import decide_run
from tunewise.models.loading import model_and_renderer, pin_hub_revision
from tunewise.models.precision import precision_facts, resolve_eval_precision
from tunewise.models.registry import is_encoder
from tunewise.report import write_report
from tunewise.report.plots import learning_curve_plot
from tunewise.rundir import RunDir, partial_dir, read_json, versions
from tunewise.select import with_selected_model
from tunewise.train.curve import nested_subsets, read_curve
from tunewise.train.lora import check_quantisation
from tunewise.train.sft import check_attention
from tunewise.train.stage import resumable, train_stage


def run(cfg: TunewiseConfig, run_dir: Path | None = None, resume: bool = False) -> dict:
    """Run the whole pipeline and return the summary (also written to run_dir/summary.json). The run is built in
    ``partial_dir(run_dir)`` and renamed into place when complete; with ``resume``, an interrupted run continues
    there from its last complete checkpoint (same config, same seed). A run that fails before it has anything
    worth resuming leaves nothing behind."""
    final = Path(run_dir or cfg.run_dir())
    partial = RunDir(partial_dir(final.resolve()))
    check_settings(cfg.audit)  # before any work: a misspelt check name is a config error
    check_quantisation(cfg.train)
    check_attention(cfg.train)
    main_process = _is_main_process()
    if main_process:
        _prepare_partial_run(final, partial, resume)
    _wait_for_all_processes()
    try:
        summary = _run_stages(cfg, partial, resume, main_process)
    except BaseException:
        if main_process and resumable(partial.train):
            console.print(f"[yellow]note[/] the unfinished run is kept in {partial.root}; --resume continues it")
        elif main_process and not resume:
            shutil.rmtree(partial.root, ignore_errors=True)
        raise
    if main_process:
        write_report(partial.root, shown_as=final)
        replace_dir(partial.root, final.resolve())
        track(cfg, final)
    return summary


def track(cfg: TunewiseConfig, run_dir: Path) -> None:
    """The finished run in the tracking store, where one is configured; a store that fails is a warning, not a
    failed run (the run's folder is complete either way)."""
    if not cfg.tracking.mlflow:
        return
    from tunewise.track import log_run

    try:
        log_run(cfg, run_dir)
    except Exception as exc:  # noqa: BLE001 - any failure of the store: the run itself has finished
        console.print(
            f"[yellow]warning[/] tracking: MLflow at {cfg.tracking.mlflow} failed ({type(exc).__name__}: {exc})"
        )


def _run_stages(cfg: TunewiseConfig, run_dir: RunDir, resume: bool, main_process: bool) -> dict:
    """select → split → audit → train → evaluate into ``run_dir``; the summary (empty off the main process)."""
    start = time.perf_counter()
    cfg, selection = choose_model(cfg, run_dir.select)
    cfg = with_model_recipe(cfg)
    asked = cfg.model.revision
    cfg, commit = pin_hub_revision(cfg)  # config.yaml names the commit: every later load reads the same files
    if commit and main_process:
        console.print(f"model: {cfg.model.name} at commit {commit} (model.revision: {asked or 'main'})")
    model_path, renderer = model_and_renderer(cfg)
    splits, task = write_split(cfg, run_dir.split, write=main_process)  # the same seed: the same split everywhere
    check_model_fits(cfg, task)
    cfg, memory = memory_plan(cfg, model_path, renderer, splits, task)  # train.batch_size: auto, resolved
    if resume:
        _check_same_config(run_dir, cfg.resolved())
    atomic_write_text(run_dir.config, yaml.safe_dump(cfg.resolved(), sort_keys=False))
    if cfg.audit.in_run and main_process:
        audit_stage(cfg, model_path, run_dir.audit)
    precision = precision_facts(cfg.train.precision, cfg.eval.precision, task)
    if main_process:  # said before training starts, once the data has been read and checked
        console.print(
            f"precision: trains in {precision['train']}, evaluates in {precision['eval']} on "
            f"{precision['machine']['name']} ({precision['reason']})"
        )
    result = train_stage(cfg, model_path, renderer, splits, task, run_dir.train, resume)
    if not main_process:
        return {}  # under `accelerate launch` the main process evaluates and reports, once
    metrics = evaluate_stage(cfg, model_path, renderer, splits, task, result.checkpoint, run_dir.evaluate())
    looked = record_look(cfg, run_dir, "run")
    summary = {
        "task": task,
        "model": cfg.model.name,
        **({"model_commit": commit} if commit else {}),  # the commit of a hub id's files
        "method": cfg.train.method,
        "precision": precision,
        "split": {name: len(rows) for name, rows in splits.items()},
        **_headline(metrics),
        "warnings": metrics["warnings"] + looked,
        "decision": decide_run(cfg, run_dir, task, metrics),
        **({"selection": {k: selection[k] for k in ("pick", "train_pick", "ranking", "reasons")}} if selection else {}),
        "train": {
            key: getattr(result, key)
            for key in (
                "steps",
                "best_step",
                "best_val_loss",
                "stopped_early",
                "truncated_rows",
                "train_tokens",
                "seconds",
                "examples_per_second",
                "tokens_per_second",
                "time_split",
                "peak_memory",
            )
        }
        | {"stopped": stop_reason(cfg.train, result), "memory_plan": memory and memory["plan"]},
        "seconds": round(time.perf_counter() - start, 1),
    }
    atomic_write_json(run_dir.summary, summary)
    return summary


def memory_plan(
    cfg: TunewiseConfig, model_path: str, renderer, splits: dict, task: str
) -> tuple[TunewiseConfig, dict | None]:
    """The training's memory plan (recorded beside its measured peak), and the config with train.batch_size: auto
    replaced by the batch the plan chose; with train.check_memory, a training that cannot fit is refused before it
    starts. A model whose config the plan cannot read trains unplanned (auto then at its effective batch)."""
    from tunewise.train.plan import check_fits, plan_run, with_batch

    try:
        found = plan_run(cfg, model_path, renderer, splits, task)
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        console.print(f"[yellow]note[/] no memory plan for {cfg.model.name} ({type(exc).__name__}: {exc})")
        return with_batch(cfg, None), None
    if found["auto_batch"]:
        chosen = found["auto_batch"]
        console.print(
            f"train.batch_size: auto → {chosen['batch_size']} per step x {chosen['gradient_accumulation']} "
            f"accumulated (effective batch {chosen['effective_batch']}; planned peak "
            f"{chosen['planned_peak'] / 2**30:.1f} GiB of {found['device_memory'] / 2**30:.1f} GiB on "
            f"{found['device']}, {chosen['room']:.0%} kept free)"
        )
    if cfg.train.check_memory:
        check_fits(found)
    return with_batch(cfg, found), found


def plan_training(cfg: TunewiseConfig) -> dict:
    """`tunewise plan`: the memory the run's training would need on this device, and what fits (train.plan)."""
    from tunewise.train.plan import plan_run

    cfg = with_model_recipe(cfg)
    model_path, renderer = model_and_renderer(cfg)
    splits, task = write_split(cfg, RunDir(cfg.run_dir()).split, write=False)  # the folder only names the rejects
    return plan_run(cfg, model_path, renderer, splits, task)


def stop_reason(train_cfg, result) -> str:
    """When and why training ended, in words (summary.json, the terminal)."""
    if result.stopped_early and result.best_step is not None:
        return (
            f"early stopping at step {result.steps}: validation loss had not improved on {result.best_val_loss:.4f} "
            f"(step {result.best_step}) for {train_cfg.patience} evaluations, {train_cfg.eval_steps} steps apart; "
            f"the step-{result.best_step} checkpoint is kept"
        )
    budget = f"train.max_steps={train_cfg.max_steps}" if train_cfg.max_steps else f"train.epochs={train_cfg.epochs:g}"
    kept = f"; the step-{result.best_step} checkpoint is kept" if result.best_step is not None else ""
    return f"ran the whole budget ({budget}, {result.steps} steps){kept}"


def _prepare_partial_run(final: Path, partial: RunDir, resume: bool) -> None:
    """A new run starts from an empty partial folder (discarding an interrupted one, said aloud) and carries the
    test-access log of the run it will replace, so earlier looks at the test split still count."""
    earlier = RunDir(final)
    if resume:
        if not partial.root.exists() and earlier.config.exists() and not earlier.summary.exists():
            os.replace(final, partial.root)  # interrupted in place, before runs were built aside
        if not partial.config.exists():
            finished = " (it finished; run without --resume to redo it)" if earlier.summary.exists() else ""
            raise TunewiseError(f"--resume: {final} holds no interrupted run{finished}")
        return
    if partial.root.exists():
        console.print(f"[yellow]note[/] discarding the interrupted run in {partial.root} (--resume continues one)")
        shutil.rmtree(partial.root)
    partial.root.mkdir(parents=True)
    if earlier.test_access.exists():
        shutil.copy2(earlier.test_access, partial.test_access)


def predict_file(run_dir: Path, data_path: Path, out: Path, limit: int | None = None, batch_size: int | None = None):
    """`tunewise predict`: the run's fine-tuned model on the rows of ``data_path`` (only their inputs are needed),
    the same rendering as evaluation. Writes ``out`` (one line per row: row, input, prediction, the top classes for
    a classification head, meta) and ``out``.rejects.jsonl for rows that could not be read; returns counts."""
    from tunewise.data.formats import prompt_messages
    from tunewise.data.load import load_records, rejected_rows

    run_dir = RunDir(run_dir)
    cfg = run_dir.load_config()
    if not run_dir.checkpoint.is_dir():
        raise TunewiseError(f"{run_dir.checkpoint}: missing; the run's training did not finish (rerun tunewise run)")
    if batch_size:
        cfg.eval.batch_size = batch_size
    task = run_dir.task()
    if task == "preference":
        raise TunewiseError(
            f"{run_dir.root}: a preference (DPO) run; predict answers prompts of chat or completion runs"
        )
    loaded = load_records(
        data_path, task, cfg.data.columns, cfg.data.labels, skip_invalid=True, max_rows=limit, inputs_only=True
    )
    labels = class_labels(cfg, run_dir.read_splits()) if task == "classification" else None
    model_path, renderer = model_and_renderer(cfg)
    started = time.perf_counter()
    answers, top = tuned_predictions(cfg, model_path, renderer, run_dir.checkpoint, loaded.records, task, labels)
    seconds = time.perf_counter() - started
    rows = []
    for i, (record, row_id) in enumerate(zip(loaded.records, loaded.row_ids, strict=True)):
        shown = "\n".join(m["content"] for m in prompt_messages(record, task))
        rows.append(
            {
                "row": row_id,
                "input": shown,
                "prediction": answers[i],
                **({"top": top[i]} if top else {}),
                "meta": record["meta"],
            }
        )
    rejects = rejected_rows(loaded.problems)
    rejects_path = out.with_name(out.name + ".rejects.jsonl")
    atomic_write_files({out: jsonl_text(rows), rejects_path: jsonl_text(rejects)})
    return {
        "rows": len(rows),
        "rejected": len(rejects),
        "rejects": rejects_path,
        "skipped": loaded.skipped,
        "rows_per_second": len(rows) / max(seconds, 1e-9),
        "task": task,
    }


def export_run(
    run_dir: Path,
    out: Path,
    fmt: str = "merged",
    dtype: str = "auto",
    quant: str = "f16",
    check_rows: int = 300,
    min_agreement: float | None = None,
) -> dict:
    """`tunewise export`: the run's fine-tuned model as a merged safetensors folder, a GGUF file or a GGUF with an
    Ollama Modelfile, with a model card. Loaded back from its own files and run on ``check_rows`` test rows against
    the run's own predictions before it is put in place at ``out`` (a failed check leaves nothing there)."""
    from dataclasses import replace

    from tunewise._io import atomic_dir
    from tunewise.data.formats import input_text
    from tunewise.export.card import model_card
    from tunewise.export.gguf import converter_dir, gguf_name
    from tunewise.export.merged import export_dtype, fine_tuned_model, write_model_files
    from tunewise.export.ollama import modelfile
    from tunewise.export.verify import agreement, check_agreement, minimum_agreement

    run_dir = RunDir(run_dir)
    cfg = run_dir.load_config()
    task = run_dir.task()
    kind = _exportable(run_dir, cfg, task, fmt)
    answered, splits = _run_predictions(run_dir), run_dir.read_splits()
    evaluated = sample_rows(splits["test"], cfg.eval.max_rows, cfg.seed)  # the rows the evaluation answered
    if [row["input"] for row in answered] != [input_text(r, task) for r in evaluated]:
        raise TunewiseError(f"{run_dir.predictions()}: not the answers to the run's test split; rerun tunewise eval")
    evaluated_in = (read_json(run_dir.summary) or {}).get("precision", {}).get("eval")
    dtype = export_dtype(dtype, cfg, evaluated_in) if fmt == "merged" else quant
    min_agreement = minimum_agreement(fmt, dtype) if min_agreement is None else min_agreement
    checked = sample_rows(list(zip(evaluated, answered, strict=True)), check_rows, cfg.seed)
    rows, expected = [row for row, _ in checked], [found["tuned"] for _, found in checked]
    labels = class_labels(cfg, splits) if task == "classification" else None
    model_path, renderer = model_and_renderer(cfg)
    if fmt != "merged":
        converter_dir()  # before any work: a missing converter is a one-line install hint
    if fmt == "ollama":
        modelfile(renderer, "check.gguf")  # a chat template Ollama cannot express is refused before any work
    started = time.perf_counter()
    with atomic_dir(out) as folder:
        exported, tokenizer = write_model_files(
            folder,
            fmt,
            fine_tuned_model(cfg, model_path, renderer, run_dir.checkpoint, task),
            renderer.tokenizer,
            dtype,
            quant,
            kind,
        )
        exported_renderer = replace(renderer, tokenizer=tokenizer)
        answers = model_predictions(cfg, exported, exported_renderer, rows, task, labels)[0]
        share = agreement(answers, expected)
        check_agreement(share, len(rows), min_agreement, f"{out} ({fmt}, {dtype})")
        if fmt == "ollama":
            atomic_write_text(folder / "Modelfile", modelfile(exported_renderer, gguf_name(quant)))
        facts = {
            "format": fmt,
            "dtype": dtype,
            "kind": kind,
            "rows": len(rows),
            "agreement": share,
            "min_agreement": min_agreement,
            "seconds": round(time.perf_counter() - started, 1),
            "run": str(run_dir.root.resolve()),
            "version": versions().get("tunewise", "?"),
        }
        run_facts = {
            "config": cfg,
            "summary": read_json(run_dir.summary) or {"task": task},
            "manifest": read_json(run_dir.manifest) or {},
            "audit": (read_json(run_dir.findings) or {}).get("summary"),
        }
        atomic_write_text(folder / "README.md", model_card(run_facts, facts))
        atomic_write_json(folder / "export.json", facts)
    return {**facts, "out": out}


def _exportable(run_dir: RunDir, cfg, task: str, fmt: str) -> str:
    """The kind of model the run trained (encoder, classify, generate), once it is known to export to ``fmt``."""
    from tunewise.export.merged import model_kind

    if task == "preference":
        raise TunewiseError(
            f"{run_dir.root}: a preference (DPO) run; export covers classification, chat and completion"
        )
    if not run_dir.checkpoint.is_dir():
        raise TunewiseError(f"{run_dir.checkpoint}: missing; the run's training did not finish (rerun tunewise run)")
    kind = model_kind(cfg, task)
    if fmt != "merged" and kind != "generate":
        raise TunewiseError(
            f"--format {fmt}: this run trained a classification head, which GGUF does not carry (llama.cpp and "
            "Ollama generate text); use --format merged"
        )
    return kind


def _run_predictions(run_dir: RunDir) -> list[dict]:
    """The rows of the run's evaluation on the test split (input, reference, the fine-tuned model's answer, …)."""
    from tunewise._io import read_jsonl

    path = run_dir.predictions()
    if not path.exists():
        raise TunewiseError(f"{path}: missing; the run was not evaluated (run tunewise eval {run_dir.root})")
    return read_jsonl(path)


def evaluate_run(run_dir: Path, split: str = "test", compare_base: bool | None = None) -> dict:
    """`tunewise eval`: evaluate a finished run's checkpoint (and the base model) on one of its splits again.
    On the test split this also logs the look and refreshes summary.json with the new numbers and decision."""
    run_dir = RunDir(run_dir)
    cfg = run_dir.load_config()
    if compare_base is not None:
        cfg.eval.compare_base = compare_base
    splits = run_dir.read_splits()
    if not run_dir.checkpoint.is_dir():
        raise TunewiseError(f"{run_dir.checkpoint}: missing; the run's training did not finish (rerun tunewise run)")
    task = run_dir.task()
    model_path, renderer = model_and_renderer(cfg)
    start = time.perf_counter()
    metrics = evaluate_stage(
        cfg, model_path, renderer, splits, task, run_dir.checkpoint, run_dir.evaluate(split), split
    )
    summary = read_json(run_dir.summary) or {}
    update = {"task": task, "model": cfg.model.name, "method": cfg.train.method, **_headline(metrics)}
    if "precision" in summary:  # this evaluation's precision, on this machine
        update["precision"] = {**summary["precision"], "eval": resolve_eval_precision(cfg.eval.precision, task=task)}
    if split != "test":  # the summary's test figures and decision do not describe this split
        kept = {key: value for key, value in summary.items() if key not in (*HEADLINE, "decision")}
        seconds = round(time.perf_counter() - start, 1)
        return {**kept, **update, "split_evaluated": split, "warnings": metrics["warnings"], "seconds": seconds}
    looked = record_look(cfg, run_dir, "eval")
    # what this evaluation did not compute (e.g. --no-base) is not kept from the last one
    for stale in HEADLINE:
        summary.pop(stale, None)
    summary.update(update, warnings=metrics["warnings"] + looked, decision=decide_run(cfg, run_dir, task, metrics))
    atomic_write_json(run_dir.summary, summary)
    return {**summary, "seconds": round(time.perf_counter() - start, 1)}


def learning_curve(cfg: TunewiseConfig, out: Path, fractions: list[float]) -> dict:
    """Train on nested subsets of the training split (same settings, the same number of epochs, hence the same
    budget per example) and score each on the same validation rows; writes out/curve.json and curve.png."""
    if not fractions or any(not 0 < f <= 1 for f in fractions) or len(set(fractions)) < 2:
        raise TunewiseError("--fractions: give at least two different fractions in (0, 1], e.g. 0.25 0.5 1")
    cfg, _ = choose_model(cfg, out / "select")
    cfg = with_model_recipe(cfg)
    model_path, renderer = model_and_renderer(cfg)
    splits, task = write_split(cfg, out / "split")
    check_model_fits(cfg, task)
    if task == "preference":
        raise TunewiseError("learning-curve: preference data is not supported yet (classification and generation are)")
    validation = sample_rows(splits["validation"], cfg.eval.max_rows, cfg.seed)
    references = reference_answers(cfg, validation, task)
    labels = class_labels(cfg, splits) if task == "classification" else None
    points, per_row = [], []
    for fraction, subset in nested_subsets(splits["train"], fractions, cfg.seed).items():
        scaled = cfg.model_copy(deep=True)
        if cfg.train.max_steps:  # same steps per example
            scaled.train.max_steps = max(1, round(cfg.train.max_steps * fraction))
        result = train_stage(
            scaled, model_path, renderer, {**splits, "train": subset}, task, out / f"train-{fraction:g}"
        )
        answers = tuned_answers(scaled, model_path, renderer, result.checkpoint, validation, task, labels)
        scores = row_scores(task, references, answers)
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
    atomic_write_files({out / "curve.json": json_text(curve), out / "curve.png": learning_curve_plot(points, metric)})
    return curve


def with_model_recipe(cfg: TunewiseConfig) -> TunewiseConfig:
    """The config as the model trains: a registry encoder is fine-tuned in full with train.encoder's settings
    (an LLM's LoRA rate would wreck it), so config.yaml and the summary say what was done."""
    if not is_encoder(cfg.model.name):
        return cfg
    return cfg.model_copy(update={"train": cfg.train.for_encoder()})


def check_model_fits(cfg: TunewiseConfig, task: str) -> None:
    if is_encoder(cfg.model.name) and task != "classification":
        raise TunewiseError(f"config: model.name: {cfg.model.name} is an encoder: it classifies ({task} data here)")


def choose_model(cfg: TunewiseConfig, out: Path) -> tuple[TunewiseConfig, dict | None]:
    """model.name: auto becomes the pick of the base-model selection (measured once, then cached). Under a
    distributed launch the main process selects first; the others then find every measurement cached."""
    if cfg.model.name != "auto":
        return cfg, None
    import torch
    from accelerate import PartialState

    with PartialState(cpu=not torch.cuda.is_available()).main_process_first():
        return with_selected_model(cfg, out)


def _check_same_config(run_dir: RunDir, resolved: dict) -> None:
    """Resuming is only sound with the config the interrupted run started with."""
    saved, now = _flat(yaml.safe_load(run_dir.config.read_text(encoding="utf-8")) or {}), _flat(resolved)
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


HEADLINE = ("base", "tuned", "comparison", "baselines", "rows_per_second", "calibration")  # what summary.json repeats


def _headline(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key in HEADLINE}


def _wait_for_all_processes() -> None:
    """A barrier under a distributed launch (the main process prepares the run folder first); nothing otherwise."""
    import torch
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()


def _is_main_process() -> bool:
    """False on the other processes of an `accelerate launch`/torchrun job (and True when not distributed)."""
    import torch
    from accelerate import PartialState

    # the same device choice the Trainer makes (use_cpu without CUDA): the shared state is created once
    return PartialState(cpu=not torch.cuda.is_available()).is_main_process
