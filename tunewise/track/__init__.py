"""A finished run, or a search, in MLflow (`tracking.mlflow`): the figures that matter here (the audit, the
selection, the verdict and the intervals) beside the ones every tracker gets through the Trainer's `report_to`.

Everything is read back from the run's folder once it is complete, so a tracked run and its folder always agree,
and a tracking store that is down costs the run nothing but a warning."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import read_jsonl
from tunewise._progress import console
from tunewise.rundir import RunDir, read_json

MAX_PARAM = 6000  # MLflow's longest parameter value


def log_run(cfg, run_dir: Path, parent: str | None = None) -> str | None:
    """Log the run in ``run_dir`` to cfg.tracking.mlflow (nested under the MLflow run ``parent`` where given);
    returns its MLflow run id, or None when tracking is off."""
    if not cfg.tracking.mlflow:
        return None
    import mlflow

    run = RunDir(run_dir)
    summary = read_json(run.summary) or {}
    _use_store(cfg)
    with mlflow.start_run(run_name=Path(run_dir).name, nested=parent is not None, parent_run_id=parent) as active:
        mlflow.log_params(params(read_json_yaml(run.config)))
        mlflow.log_metrics(stage_metrics(summary, read_json(run.findings), read_json(run.selection)))
        for row in read_jsonl(run.train_log, missing_ok=True):  # the curves, by step
            mlflow.log_metric(f"{row['split']}_loss", row["loss"], step=row["step"])
        verdict = (summary.get("decision") or {}).get("verdict", "not evaluated")
        mlflow.set_tags({"verdict": verdict, "task": summary.get("task"), "model": summary.get("model")})
        for path in (run.report / "report.html", run.report / "report.md", run.findings, run.summary, run.config):
            if path.is_file():
                mlflow.log_artifact(str(path), artifact_path=path.parent.name if path.parent != run.root else None)
        if summary.get("task"):  # the model card, as an export would write it (without the export's own check)
            mlflow.log_text(_card(cfg, run, summary), "model_card.md")
        return active.info.run_id


def _card(cfg, run: RunDir, summary: dict) -> str:
    from tunewise.export.card import model_card

    facts = {
        "config": run.load_config() if run.config.is_file() else cfg,  # the model trained, not model.name: auto
        "summary": summary,
        "manifest": read_json(run.manifest) or {},
        "audit": (read_json(run.findings) or {}).get("summary"),
    }
    return model_card(facts)


def log_search(cfg, out: Path, tuning: dict) -> str | None:
    """A `tunewise tune` search: a parent run with the chosen setting and why, one nested run per trial (its
    values, validation score, state and minutes), and the final run nested under it as well."""
    if not cfg.tracking.mlflow:
        return None
    import mlflow

    _use_store(cfg)
    with mlflow.start_run(run_name=f"{Path(out).name} (tune)") as parent:
        mlflow.log_params({f"chosen.{key}": value for key, value in tuning["chosen_values"].items()})
        mlflow.set_tags({"chosen_trial": tuning["decision"]["chosen"], "reason": tuning["decision"]["reason"][:5000]})
        mlflow.log_metric("search_minutes", tuning["search_minutes"])
        for trial in tuning["trials"]:
            with mlflow.start_run(run_name=f"trial {trial['number']}", nested=True):
                mlflow.log_params(trial["values"])
                mlflow.set_tags({"state": trial["state"], "default": trial["default"]})
                found = {"minutes": trial["minutes"], "best_val_loss": trial["best_val_loss"]}
                found[f"validation_{tuning['metric']}"] = trial["score"]
                mlflow.log_metrics({key: value for key, value in found.items() if value is not None})
        for name in ("tuning.json", "importance.png", "slice.png"):
            if (out / name).is_file():
                mlflow.log_artifact(str(out / name))
        parent_id = parent.info.run_id
    log_run(cfg, out / "run", parent=parent_id)
    return parent_id


def params(config: dict, prefix: str = "") -> dict[str, str]:
    """The config as MLflow params: one per leaf key (``train.lora.r``), lists and long values as text."""
    found = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            found |= params(value, f"{prefix}{key}.")
        else:
            found[f"{prefix}{key}"] = str(value)[:MAX_PARAM]
    return found


def stage_metrics(summary: dict, findings: dict | None, selection: dict | None) -> dict[str, float]:
    """Each stage's figures as metrics: the audit's flagged rows per check, each candidate's probe score,
    projected training time and serving cost, the test metrics with their interval bounds, each baseline's
    score and the tuned model's gain over it."""
    found: dict[str, float] = {}
    for finding in (findings or {}).get("findings", []):
        found[f"audit.{finding['check']}"] = len(finding.get("rows") or [])
    for candidate in (selection or {}).get("candidates", []):
        name = candidate["name"].replace(":", "_")
        found[f"select.{name}.score"] = (candidate.get("probe") or {}).get("score")
        found[f"select.{name}.projected_train_seconds"] = candidate.get("projected_train_seconds")
        found[f"select.{name}.cost_per_1k"] = candidate.get("cost_per_1k")
    for side in ("tuned", "base"):
        for key, value in (summary.get(side) or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[f"test.{side}.{key}"] = value
            elif key.endswith("_ci") and isinstance(value, list) and len(value) == 2:
                found[f"test.{side}.{key}_low"], found[f"test.{side}.{key}_high"] = value
    for name, scores in (summary.get("baselines") or {}).items():
        for key in ("accuracy", "macro_f1", "rougeL", "chrf"):
            if isinstance(scores.get(key), int | float):
                found[f"baseline.{name}.{key}"] = scores[key]
    train = summary.get("train") or {}
    for key in ("steps", "best_step", "best_val_loss", "seconds", "tokens_per_second"):
        found[f"train.{key}"] = train.get(key)
    return {key: float(value) for key, value in found.items() if value is not None}


def read_json_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store (MLflow's own default is ./mlruns in
    whatever folder the command ran from); a folder store or a server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    return None


def _use_store(cfg) -> None:
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines about migrations and new experiments
    mlflow.set_tracking_uri(cfg.tracking.mlflow)
    name = cfg.tracking.experiment or cfg.name
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifact_root(cfg.tracking.mlflow))
    mlflow.set_experiment(name)
    console.print(f"tracking: MLflow at {cfg.tracking.mlflow}, experiment {cfg.tracking.experiment or cfg.name}")
