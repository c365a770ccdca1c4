"""What each CLI command does, in terms of the stage functions; printing lives here, not in the stages."""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunewise._io import atomic_write_text
from tunewise._progress import console
from tunewise.config import load_config, starter_yaml
from tunewise.errors import TunewiseError
from tunewise.evaluate.metrics import headline_keys

DEMO_CONFIG = "demo.yaml"
results = Console()  # results on stdout; progress and notes go to stderr


def init(args) -> int:
    if args.path.exists() and not args.force:
        raise TunewiseError(f"{args.path}: already exists (use --force to overwrite)")
    atomic_write_text(args.path, starter_yaml())
    console.print(f"wrote {args.path}; set data.path, then: tunewise run {args.path}")
    return 0


def run(args) -> int:
    from tunewise.pipeline import run as run_pipeline

    overrides = list(args.overrides) + (["data.skip_invalid=true"] if args.skip_invalid else [])
    cfg = load_config(args.config, overrides)
    run_dir = args.out or cfg.run_dir()
    summary = run_pipeline(cfg, run_dir, resume=args.resume)
    if summary:  # empty on the non-main processes of a distributed launch
        print_summary(summary, run_dir)
    return 0


def evaluate(args) -> int:
    from tunewise.pipeline import evaluate_run

    summary = evaluate_run(args.run_dir, args.split, False if args.no_base else None)
    print_summary(summary, args.run_dir)
    return 0


def compare(args) -> int:
    from tunewise.evaluate.baseline import compare_runs

    found = compare_runs(args.run_dir, args.baseline, args.curation)
    table = Table(title=f"{args.run_dir} vs baseline {args.baseline} ({found['comparison']['n']} test rows)")
    for column in ("metric", "baseline", "this run"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, values in found["metrics"].items():
        cells = ({"v": values[side]["value"], "v_ci": values[side]["ci"]} for side in ("baseline", "run"))
        table.add_row(key, *(_with_interval(cell, "v") for cell in cells))
    results.print(table)
    c = found["comparison"]
    results.print(
        f"gain {c['gain']:+.3f} {c['metric']} (95 % CI {c['ci_low']:+.3f} to {c['ci_high']:+.3f}), "
        f"p = {c['p_value']:.2g} ({c['test']}); wrote {args.run_dir}/baseline/comparison.json"
    )
    return 0


def learning_curve(args) -> int:
    from tunewise.pipeline import learning_curve as build_curve

    cfg = load_config(args.config, list(args.overrides))
    out = args.out or Path(f"{cfg.run_dir()}-curve")
    curve = build_curve(cfg, out, args.fractions)
    table = Table(title=f"learning curve: validation {curve['metric']} on {curve['validation_rows']} rows")
    for column in ("training rows", "steps", "best val loss", curve["metric"]):
        table.add_column(column, justify="right")
    for point in curve["points"]:
        low, high = point["score_ci"]
        loss = f"{point['best_val_loss']:.3f}" if point["best_val_loss"] is not None else "-"
        score = f"{point['score']:.3f} [{low:.3f}, {high:.3f}]"
        table.add_row(str(point["train_rows"]), str(point["steps"]), loss, score)
    results.print(table)
    results.print(curve["reading"])
    results.print(f"wrote {out / 'curve.json'} and {out / 'curve.png'}")
    return 0


def select(args) -> int:
    from tunewise.select import select_base_model

    cfg = load_config(args.config, list(args.overrides))
    out = args.out or Path(f"{cfg.run_dir()}-select")
    selection = select_base_model(cfg, out)
    if args.json:
        print(json.dumps(selection_summary(selection), indent=2))
        return 0
    print_selection(selection)
    results.print(f"wrote {out / 'selection.json'} and {out / 'selection.png'}")
    return 0


def selection_summary(selection: dict) -> dict:
    """The selection without per-row scores (those stay in selection.json)."""

    def public(value):
        if isinstance(value, dict):
            return {k: public(v) for k, v in value.items() if k != "per_row"}
        return [public(v) for v in value] if isinstance(value, list) else value

    return public(selection)


def print_selection(selection: dict) -> None:
    by_name = {c["name"]: c for c in selection["candidates"]}
    ordered = [by_name[name] for name in selection["ranking"]]
    metric = selection["metric"]
    quality = Table(title=f"base-model selection: validation {metric} on {selection['validation_rows']} rows")
    for column in ("#", "model", "probe [95% CI]", "vs best [95% CI]", "0-shot", "few-shot", "bits/B"):
        quality.add_column(column, justify="left" if column == "model" else "right", no_wrap=column != "model")
    for position, candidate in enumerate(ordered, 1):
        gap = candidate["vs_best"]
        few = candidate["few_shot"]
        quality.add_row(
            str(position),
            candidate["name"] + (" (pick)" if candidate["name"] == selection["pick"] else ""),
            _with_interval({"s": candidate["probe"]["score"], "s_ci": candidate["probe"]["score_ci"]}, "s"),
            "best" if gap is None else f"{gap['gain']:+.3f} [{gap['ci_low']:+.3f}, {gap['ci_high']:+.3f}]",
            f"{candidate['zero_shot']['score']:.3f}",
            f"{few['score']:.3f}" if few else "-",
            f"{candidate['bits_per_byte']:.3f}",
        )
    results.print(quality)
    currency = selection["currency"]
    cost = Table(
        title=f"measured cost (peak memory includes the runtime); serving at {selection['price_per_hour']:g} "
        f"{currency}/hour"
    )
    headers = (
        "model",
        "params",
        "disk",
        "mem train",
        "mem serve",
        "train tok/s",
        "latency",
        "rows/s",
        "per 1k",
        "Pareto",
    )
    for column in headers:
        cost.add_column(column, justify="left" if column == "model" else "right", no_wrap=column != "model")
    for candidate in ordered:
        cost.add_row(
            candidate["name"],
            f"{candidate['parameters'] / 1e6:.0f}M",
            _size(candidate["disk_bytes"]),
            _size(candidate["train_peak_bytes"]),
            _size(candidate["inference_peak_bytes"]),
            f"{candidate['train_tokens_per_second']:.0f}" if candidate["train_tokens_per_second"] else "-",
            f"{1000 * candidate['latency_seconds']:.0f} ms",
            f"{candidate['rows_per_second']:.1f}",
            f"{candidate['cost_per_1k']:.2g} {currency}",
            "yes" if candidate["pareto"] else "no",
        )
    results.print(cost)
    for sentence in selection["reasons"]:
        results.print(sentence)


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    return f"{count / 2**30:.2f} GB" if count >= 2**30 else f"{count / 2**20:.0f} MB"


def report(args) -> int:
    from tunewise.report import write_report

    written = write_report(args.run_dir, args.out)
    results.print(f"verdict: {written['verdict']}")
    results.print(f"wrote {written['html']} and {written['markdown']}")
    return 0


def demo(args) -> int:
    from tunewise.pipeline import run as run_pipeline

    if args.cache_dir:
        os.environ["TUNEWISE_CACHE"] = str(args.cache_dir)
    cfg = load_config(Path(str(files("tunewise") / "resources" / DEMO_CONFIG)))
    console.print(
        "[bold]tunewise demo[/]: LoRA fine-tune of SmolLM2-135M-Instruct on a Banking77 subset "
        "(PolyAI, CC BY 4.0), base vs tuned on a held-out test set"
    )
    summary = run_pipeline(cfg, args.out)
    print_summary(summary, args.out)
    return 0


def data_config(args):
    """The config for a data command: --config if given, then --task, --column and --model on top."""
    from tunewise.config import TunewiseConfig

    cfg = load_config(args.config) if args.config else TunewiseConfig()
    if args.task:
        cfg.data.task = args.task
    for item in args.column:
        field, sep, column = item.partition("=")
        if not sep or not field or not column:
            raise TunewiseError(f"--column '{item}': expected FIELD=COLUMN, e.g. label=category")
        cfg.data.columns = {**cfg.data.columns, field: column}
    if args.model:
        cfg.model.name = args.model
    return cfg


def audit(args) -> int:
    from tunewise.data.audit import audit_file
    from tunewise.data.audit.report import html, table

    cfg = data_config(args)
    result, _ = audit_file(cfg, args.data, args.against, _tokenizer_model(cfg))
    results.print(table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str) + "\n")
    if args.html:
        atomic_write_text(args.html, html(result))
    if not result.sufficiency["enough"]:
        results.print(f"[yellow]warning[/] {result.sufficiency['message']}")
    verdict = "[red]failed[/]: error-severity findings" if result.failed else "[green]passed[/]"
    results.print(f"audit {verdict}; {result.summary()['flagged_rows']} of {result.rows} rows flagged")
    return 1 if result.failed else 0


def curate(args) -> int:
    from tunewise.data.audit import audit_file
    from tunewise.data.audit.report import table
    from tunewise.data.curate import curate as apply_plan

    cfg = data_config(args)
    model = None if args.findings else _tokenizer_model(cfg)
    result, ctx = audit_file(cfg, args.data, args.against, model, findings=args.findings)
    results.print(table(result))
    manifest = apply_plan(result, ctx, cfg.curate, cfg.data.columns, cfg.seed, args.out, args.relabel_patch)
    view = Table(title=f"curation of {args.data}: {result.rows} rows in, {manifest['output']['rows']} rows out")
    view.add_column("action")
    view.add_column("rows", justify="right")
    for action, count in sorted(manifest["actions"].items()):
        view.add_row(action, str(count))
    results.print(view)
    results.print(
        f"wrote {args.out}/curated.jsonl, changelog.jsonl, relabel_queue.jsonl "
        f"({manifest['relabel_queue']} rows to review), manifest.json"
    )
    if cfg.curate.upsample_to:
        console.print("[yellow]warning[/] upsampled rows are copies: they rebalance the loss but add no information")
    crashed = [f.check for f in result.findings if f.status == "error"]
    if crashed:
        results.print(f"[red]warning[/] checks crashed, so their curation steps did not run: {', '.join(crashed)}")
    return 1 if crashed else 0


def split(args) -> int:
    from tunewise.pipeline import split_stage

    cfg = data_config(args)
    cfg.data.path = str(Path(args.data).resolve())
    cfg.data.test_path = None
    for key, value in (("validation", args.validation), ("test", args.test)):
        if value is not None:
            setattr(cfg.split, key, value)
    if args.seed is not None:
        cfg.seed = args.seed
    cfg.split.allow_small_holdout = args.force
    cfg.split.group_semantic_duplicates = args.semantic
    splits, _ = split_stage(cfg, args.out, override_hint="pass --force")
    view = Table(title=f"split of {args.data} (seed {cfg.seed})")
    view.add_column("split")
    view.add_column("rows", justify="right")
    for name, rows in splits.items():
        view.add_row(name, str(len(rows)))
    results.print(view)
    results.print(f"wrote {args.out}/train.jsonl, validation.jsonl, test.jsonl and manifest.json")
    return 0


def inject(args) -> int:
    from tunewise._io import atomic_write_json, atomic_write_jsonl
    from tunewise.data.curate import as_file_row
    from tunewise.data.faults import FaultRates
    from tunewise.data.faults import inject as inject_faults
    from tunewise.data.load import load_data, load_eval_data

    cfg = data_config(args)
    loaded = load_data(cfg.data, args.data)
    test = load_eval_data(cfg.data, args.test, loaded.task).records if args.test else None
    rates = FaultRates(
        exact_duplicate=args.exact_duplicate,
        near_duplicate=args.near_duplicate,
        label_noise=args.label_noise,
        empty=args.empty,
        leakage=args.leakage,
        starve_classes=args.starve_classes,
        starve_to=args.starve_to,
        boilerplate=args.boilerplate,
        skew_rarest=args.skew_rarest,
        skew_keep=args.skew_keep,
        duplicates_from_common=args.duplicates_from_common,
        noise_confusable_only=args.noise_confusable_only,
    )
    rows, truth = inject_faults(loaded.records, loaded.task, rates, seed=args.seed, test_records=test)
    atomic_write_jsonl(args.out, [as_file_row(r, cfg.data.columns) for r in rows])
    truth_path = args.out.with_name(args.out.name + ".truth.json")
    atomic_write_json(truth_path, {"rates": rates.__dict__, "seed": args.seed, "rows": len(rows), "faults": truth})
    counts = ", ".join(f"{kind} {len(found)}" for kind, found in sorted(truth.items()))
    results.print(f"wrote {args.out} ({len(rows)} rows from {len(loaded.records)}: {counts}) and {truth_path}")
    return 0


def _tokenizer_model(cfg) -> str | None:
    """The base model folder for the length check, or None (the check is then skipped, with the reason)."""
    if cfg.audit.checks is not None and "length" not in cfg.audit.checks:
        return None
    from tunewise.models.registry import resolve_model

    try:
        return resolve_model(cfg.model.name, cfg.resolve_path(cfg.model.cache_dir))
    except TunewiseError as exc:
        console.print(f"[yellow]warning[/] length check skipped: {exc}")
        return None


def models(args) -> int:
    from tunewise.models.registry import list_models, prepare_model

    cache_dir = getattr(args, "prepare_cache_dir", None) or args.cache_dir
    if args.models_command == "prepare":
        with console.status(f"preparing {args.name} (dequantise GGUF, cache as safetensors)"):
            path = prepare_model(args.name, cache_dir, force=args.force)
        console.print(f"{args.name}: cached at {path}")
        return 0
    table = Table(title="base models")
    for column in ("name", "parameters", "source", "license", "cached"):
        table.add_column(column, no_wrap=column in ("name", "parameters", "cached"))
    for row in list_models(cache_dir):
        table.add_row(*(("yes" if v else "no") if isinstance(v, bool) else str(v) for v in row.values()))
    results.print(table)
    console.print(
        "Also accepted as model.name: a local Hugging Face model folder, or a hub id when a hub is reachable."
    )
    return 0


def _with_interval(metrics: dict, key: str) -> str:
    interval = metrics.get(f"{key}_ci")
    return f"{metrics[key]:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"{metrics[key]:.3f}"


def print_summary(summary: dict, run_dir: Path) -> None:
    base, tuned = summary.get("base"), summary["tuned"]
    keys = headline_keys(summary["task"], short=True)
    table = Table(title=f"{summary['model']} ({summary['method']}) on {tuned['n']} test rows")
    table.add_column("metric")
    if base:
        table.add_column("base", justify="right")
    table.add_column("fine-tuned", justify="right")
    if base:
        table.add_column("change", justify="right")
    for key in keys:
        cells = [_with_interval(tuned, key)]
        if base:
            cells = [_with_interval(base, key), *cells, f"{tuned[key] - base[key]:+.3f}"]
        table.add_row(key, *cells)
    results.print(table)
    comparison = summary.get("comparison")
    if comparison:
        results.print(
            f"{comparison['metric']} gain {comparison['gain']:+.3f} (95% CI {comparison['ci_low']:+.3f} to "
            f"{comparison['ci_high']:+.3f}), {comparison['test']} p = {comparison['p_value']:.2g}"
        )
    for warning in summary.get("warnings", []):
        results.print(f"[yellow]warning[/] {warning}")
    if "decision" in summary:
        print_decision(summary["decision"])
    train = summary.get("train")
    if train:
        best = f"{train['best_val_loss']:.4f}" if train["best_val_loss"] is not None else "n/a"
        results.print(
            f"trained {train['steps']} steps, best validation loss {best} at step "
            f"{train['best_step']}{' (stopped early)' if train['stopped_early'] else ''}"
        )
    results.print(f"{summary['seconds']:.0f} s; run directory: {run_dir}")
    if (Path(run_dir) / "report" / "report.html").exists():
        results.print(f"report: {Path(run_dir) / 'report' / 'report.html'}")


def print_decision(decision: dict) -> None:
    for check in decision["checks"]:
        mark = "[green]pass[/]" if check["passed"] else ("[red]FAIL[/]" if check["blocking"] else "[yellow]note[/]")
        results.print(f"  {mark} {check['check']}: {check['message']}")
    colour = "green" if decision["verdict"] == "go" else "red"
    why = f" (decided by: {', '.join(decision['deciding'])})" if decision["deciding"] else ""
    results.print(f"verdict: [bold {colour}]{decision['verdict']}[/]{why}")


def review(args) -> int:
    from tunewise.review.commands import run_action

    return run_action(args, results)
