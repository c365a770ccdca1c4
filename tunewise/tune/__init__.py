"""`tunewise tune`: a hyperparameter search on the validation split with Optuna, a noise-aware choice, then one run
with the chosen setting, the only step that opens the test split.

The study lives in OUT/study.db (SQLite), so a killed search resumes where it stopped: finished and pruned trials
are kept, a trial the kill interrupted is marked failed and its setting run again. Trials run one at a time; each
trains through the run's own training stage (early stopping, metrics.jsonl) and reports every validation loss to
Optuna, which prunes a trial trailing the median. A trial's score is the task metric (accuracy or ROUGE-L) on the
same validation rows for every trial; its checkpoint is deleted once scored."""

from __future__ import annotations

import shutil
import statistics
import time
import warnings
from pathlib import Path

from transformers import TrainerCallback

from tunewise._format import duration
from tunewise._io import atomic_write_files, atomic_write_json, json_text
from tunewise._progress import console
from tunewise.config import TunewiseConfig
from tunewise.data.split import class_labels, sample_rows, write_split
from tunewise.errors import TunewiseError
from tunewise.evaluate.metrics import headline_keys, row_scores
from tunewise.evaluate.stage import reference_answers, tuned_answers
from tunewise.evaluate.stats import mean_ci
from tunewise.models.loading import model_and_renderer
from tunewise.pipeline import check_model_fits, choose_model, run, with_model_recipe
from tunewise.report import write_report
from tunewise.rundir import read_json
from tunewise.train.guards import watching
from tunewise.train.stage import train_stage
from tunewise.tune.choose import choose
from tunewise.tune.space import check_space, current_values, default_space, holding, suggest, with_values

STUDY = "tunewise"


class ReportToTrial(TrainerCallback):
    """Each validation loss to the Optuna trial (as its negative: the study maximises the validation score);
    when the pruner says so, the training stops at once and the trial ends pruned."""

    def __init__(self, trial):
        self.trial = trial
        self.pruned_at: int | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is None:
            return
        self.trial.report(-float(loss), state.global_step)
        if self.trial.should_prune():
            self.pruned_at = state.global_step
            control.should_training_stop = True


def tune(cfg: TunewiseConfig, out: Path, trials: int | None = None, budget_minutes: float | None = None) -> dict:
    """Search, choose, run once; writes OUT/tuning.json (and OUT/run, the final run, whose report has a tuning
    section). Returns the tuning summary."""
    import optuna

    if cfg.tracking.mlflow:
        import mlflow  # noqa: F401 - a missing 'track' extra is said now, not after the search
    trials = trials or cfg.tune.trials
    budget_minutes = budget_minutes or cfg.tune.budget_minutes
    if cfg.data.task == "preference":
        raise TunewiseError("tune: preference data is not supported yet (classification and generation are)")
    searched = cfg.tune.space or None
    check_space(cfg, searched)  # every end of every range is valid (and, for a named model, every key applies)
    out.mkdir(parents=True, exist_ok=True)
    cfg, _ = choose_model(cfg, out / "select")  # model.name: auto: the selection's pick, once
    trained_cfg = with_model_recipe(cfg)
    check_space(cfg, searched)  # every key applies to the model auto picked
    model_path, renderer = model_and_renderer(trained_cfg)
    splits, task = write_split(trained_cfg, out / "split")  # the test split is split off and never read here
    check_model_fits(trained_cfg, task)
    if task == "preference":
        raise TunewiseError("tune: preference data is not supported yet (classification and generation are)")
    defaults = current_values(cfg, searched or default_space(cfg, task))
    space = holding(searched or default_space(cfg, task), defaults)
    validation = sample_rows(splits["validation"], cfg.eval.max_rows, cfg.seed)
    references = reference_answers(cfg, validation, task)
    labels = class_labels(cfg, splits) if task == "classification" else None
    metric = headline_keys(task)[0]

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a trial's failure is said once, as tunewise's own error
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.create_study(
        study_name=STUDY,
        storage=storage,
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3) if cfg.tune.prune else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    _same_search(study, cfg, out)
    # seeded, but not the same draws again after a resume; random for the first third, then TPE's model
    study.sampler = optuna.samplers.TPESampler(seed=cfg.seed + len(study.trials), n_startup_trials=max(3, trials // 3))
    _rerun_interrupted(study)
    if not study.trials:
        study.enqueue_trial(defaults, user_attrs={"default": True})
    done = _finished(study)
    console.print(
        f"tune: {trials} trials on {len(validation)} validation rows ({metric}), searching "
        f"{', '.join(space)}" + (f"; {len(done)} already finished in {out / 'study.db'}" if done else "")
    )

    def objective(trial) -> float:
        values = suggest(trial, space)
        trial_cfg = with_model_recipe(with_values(cfg, values))
        folder = out / "trials" / f"{trial.number:03d}"
        shutil.rmtree(folder, ignore_errors=True)  # a trial interrupted by a kill starts again
        reporter = ReportToTrial(trial)
        started = time.perf_counter()
        with watching(reporter):
            result = train_stage(trial_cfg, model_path, renderer, splits, task, folder / "train")
        minutes = (time.perf_counter() - started) / 60
        trial.set_user_attr("minutes", round(minutes, 4))
        trial.set_user_attr("steps", result.steps)
        trial.set_user_attr("best_val_loss", result.best_val_loss)
        if reporter.pruned_at is not None:
            shutil.rmtree(folder / "train", ignore_errors=True)
            raise optuna.TrialPruned(f"validation loss trailed the median trial's at step {reporter.pruned_at}")
        answers = tuned_answers(trial_cfg, model_path, renderer, result.checkpoint, validation, task, labels)
        scores = row_scores(task, references, answers)
        atomic_write_json(folder / "validation_scores.json", scores)
        shutil.rmtree(folder / "train", ignore_errors=True)  # the chosen setting is trained again by the final run
        return sum(scores) / len(scores)

    started = time.perf_counter()
    remaining = trials - len(done)
    for _ in range(max(0, remaining)):
        if budget_minutes and time.perf_counter() - started > budget_minutes * 60:
            console.print(f"tune: the {budget_minutes:g}-minute budget is spent; no more trials are started")
            break
        study.optimize(objective, n_trials=1, catch=())
        _say_progress(study, trials, started, metric)

    finished = _trial_records(study)
    complete = [t for t in finished if t["state"] == "complete"]
    scores = {
        t["number"]: read_json(out / "trials" / f"{t['number']:03d}" / "validation_scores.json") for t in complete
    }
    complete = [t for t in complete if scores[t["number"]] is not None]
    if not complete:
        raise TunewiseError(f"tune: no trial finished ({len(finished)} pruned or failed); see {out / 'trials'}")
    decision = choose(task, complete, scores)
    chosen = next(t for t in complete if t["number"] == decision["chosen"])
    console.print(f"tune: trial {chosen['number']} chosen: {decision['reason']}")
    for t in complete:
        t["score_ci"] = mean_ci(scores[t["number"]])
    summary = {
        "task": task,
        "metric": metric,
        "model": cfg.model.name,
        "validation_rows": len(validation),
        "space": {key: found.model_dump(exclude_defaults=True) for key, found in space.items()},
        "trials": finished,
        "decision": decision,
        "chosen_values": chosen["values"],
        "search_minutes": round(sum(t.get("minutes") or 0 for t in finished), 2),
    }
    final_cfg = with_values(cfg, chosen["values"])
    final_cfg.tracking.mlflow = None  # tracked below, nested under the search
    earlier = read_json(out / "tuning.json")
    if earlier and earlier["chosen_values"] == chosen["values"] and (out / "run" / "summary.json").is_file():
        console.print(f"tune: {out / 'run'} already holds the chosen setting's run: the test split is not read again")
        final = read_json(out / "run" / "summary.json")
    else:
        final = run(final_cfg, out / "run")  # the one step that reads the test split
    headline = {
        k: v for k, v in (final.get("tuned") or {}).items() if isinstance(v, int | float | list) and k != "per_class"
    }
    summary["run"] = {"folder": str(out / "run"), "verdict": final["decision"]["verdict"], "tuned": headline}
    _write_tuning(study, summary, out)
    if cfg.tracking.mlflow:
        from tunewise.track import log_search

        try:
            log_search(cfg, out, summary)
        except Exception as exc:  # noqa: BLE001 - any failure of the store: the search itself has finished
            console.print(
                f"[yellow]warning[/] tracking: MLflow at {cfg.tracking.mlflow} failed ({type(exc).__name__}: {exc})"
            )
    return summary


def _same_search(study, cfg: TunewiseConfig, out: Path) -> None:
    """A study resumes only the search that started it: the same config (data, model, space, seed, rows)."""
    import hashlib
    import json

    resolved = {k: v for k, v in cfg.resolved().items() if k not in ("tune", "tracking", "name", "output_dir")}
    resolved["space"] = {key: found.model_dump() for key, found in cfg.tune.space.items()}
    fingerprint = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]
    started = study.user_attrs.get("config")
    if started is None:
        study.set_user_attr("config", fingerprint)
    elif started != fingerprint:
        raise TunewiseError(
            f"{out / 'study.db'}: this search was started with another config (data, model, settings or "
            "tune.space differ); use another --out, or delete the folder to start over"
        )


def _rerun_interrupted(study) -> None:
    """A trial still 'running' in the study was stopped by a kill (one search at a time holds the study): it is
    marked failed, and its setting queued again (the default setting included)."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs=dict(trial.user_attrs))


def _finished(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _trial_records(study) -> list[dict]:
    """Every trial as plain data: number, state, values, validation score, minutes, steps, default or not."""
    found = []
    for trial in study.trials:
        found.append(
            {
                "number": trial.number,
                "state": trial.state.name.lower(),
                "values": dict(trial.params),
                "score": trial.value if trial.state.name == "COMPLETE" else None,  # a pruned one keeps a loss
                "minutes": trial.user_attrs.get("minutes"),
                "steps": trial.user_attrs.get("steps"),
                "best_val_loss": trial.user_attrs.get("best_val_loss"),
                "default": bool(trial.user_attrs.get("default")),
            }
        )
    return found


def _say_progress(study, trials: int, started: float, metric: str) -> None:
    """One line per trial: n/N, its result, the best so far, and the minutes the rest should take."""
    records = _trial_records(study)
    last, done = records[-1], [r for r in records if r["state"] in ("complete", "pruned")]
    complete = [r for r in done if r["state"] == "complete"]
    best = max(complete, key=lambda r: r["score"]) if complete else None
    minutes = [r["minutes"] for r in done if r["minutes"]]
    left = statistics.mean(minutes) * max(0, trials - len(done)) if minutes else 0
    outcome = f"{metric} {last['score']:.4f}" if last["state"] == "complete" else last["state"]
    console.print(
        f"trial {len(done)}/{trials}: {outcome} in {last['minutes'] or 0:.1f} min"
        + (f"; best so far trial {best['number']} {best['score']:.4f}" if best else "")
        + f"; about {duration(left * 60)} left (elapsed {duration(time.perf_counter() - started)})"
    )


def _write_tuning(study, summary: dict, out: Path) -> None:
    """OUT/tuning.json and the plots, and the same in the final run's tune/ folder (its report shows them)."""
    files = {"tuning.json": json_text(summary), **_plots(study)}
    atomic_write_files({out / name: body for name, body in files.items()})
    atomic_write_files({out / "run" / "tune" / name: body for name, body in files.items()})
    write_report(out / "run")


def _plots(study) -> dict[str, bytes]:
    """Optuna's own importance and slice plots (matplotlib), as PNG; none where too few trials finished."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as views

    found = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    wanted = {"slice.png": views.plot_slice}
    if len(complete) >= 3 and len(complete[0].params) > 1:
        wanted["importance.png"] = views.plot_param_importances
    for name, view in wanted.items():
        try:
            with warnings.catch_warnings():  # "experimental" notes, and a flat axis where one value was tried
                warnings.simplefilter("ignore")
                axes = view(study)
        except (ValueError, RuntimeError):  # e.g. every trial scored the same: no importance to compute
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
        figure.set_size_inches(max(6.0, 4.5 * len(complete[0].params)), 4.0)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        found[name] = buffer.getvalue()
    return found
