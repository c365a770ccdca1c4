"""`tunewise tune`: a hyperparameter search on the validation split with Optuna, a noise-aware choice, then one run
with the chosen setting, the only step that opens the test split.

The study lives in OUT/study.db (SQLite), so a killed search resumes where it stopped: finished and pruned trials
are kept, a trial the kill interrupted is marked failed and its setting run again. Trials run one at a time, or one
per GPU in worker processes that share the study (tune.workers); each trains through the run's own training stage
(early stopping, metrics.jsonl) and reports every validation loss to Optuna, which prunes a trial trailing the
median. A trial's score is the task metric (accuracy or ROUGE-L) on the same validation rows for every trial; its
checkpoint is deleted once scored."""

from __future__ import annotations

import shutil
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml
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


@dataclass
class Search:
    """What every trial of a search shares: the config (the model already picked), the model, the splits and the
    validation rows every trial is scored on."""

    cfg: TunewiseConfig
    out: Path
    space: dict
    defaults: dict
    model_path: Path
    renderer: object
    splits: dict
    task: str
    validation: list[dict]
    references: list
    labels: list[str] | None
    metric: str


def prepare(cfg: TunewiseConfig, out: Path, write: bool = True) -> Search:
    """Pick the model (model.name: auto), split the data (written to OUT/split when ``write``; a trial worker
    computes the same split) and take the validation rows. The test split is split off and never read here."""
    if cfg.data.task == "preference":
        raise TunewiseError("tune: preference data is not supported yet (classification and generation are)")
    searched = cfg.tune.space or None
    check_space(cfg, searched)  # every end of every range is valid (and, for a named model, every key applies)
    out.mkdir(parents=True, exist_ok=True)
    cfg, _ = choose_model(cfg, out / "select")  # model.name: auto: the selection's pick, once
    trained_cfg = with_model_recipe(cfg)
    check_space(cfg, searched)  # every key applies to the model auto picked
    model_path, renderer = model_and_renderer(trained_cfg)
    splits, task = write_split(trained_cfg, out / "split", write=write)
    check_model_fits(trained_cfg, task)
    if task == "preference":
        raise TunewiseError("tune: preference data is not supported yet (classification and generation are)")
    defaults = current_values(cfg, searched or default_space(cfg, task))
    validation = sample_rows(splits["validation"], cfg.eval.max_rows, cfg.seed)
    return Search(
        cfg=cfg,
        out=out,
        space=holding(searched or default_space(cfg, task), defaults),
        defaults=defaults,
        model_path=model_path,
        renderer=renderer,
        splits=splits,
        task=task,
        validation=validation,
        references=reference_answers(cfg, validation, task),
        labels=class_labels(cfg, splits) if task == "classification" else None,
        metric=headline_keys(task)[0],
    )


def trial_workers(cfg: TunewiseConfig) -> int:
    """How many trials run side by side (tune.workers): auto is one per visible GPU, and one on a CPU."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.tune.workers == "auto":
        return max(1, gpus)
    if gpus and cfg.tune.workers > gpus:
        raise TunewiseError(
            f"tune.workers={cfg.tune.workers}: {gpus} GPUs are visible, and a trial has a GPU to itself"
        )
    return cfg.tune.workers


def tune(cfg: TunewiseConfig, out: Path, trials: int | None = None, budget_minutes: float | None = None) -> dict:
    """Search, choose, run once; writes OUT/tuning.json (and OUT/run, the final run, whose report has a tuning
    section). Returns the tuning summary."""
    import optuna

    if cfg.tracking.mlflow:
        import mlflow  # noqa: F401 - a missing 'track' extra is said now, not after the search
    trials = trials or cfg.tune.trials
    budget_minutes = budget_minutes or cfg.tune.budget_minutes
    search = prepare(cfg, out)
    cfg, task, metric = search.cfg, search.task, search.metric

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a trial's failure is said once, as tunewise's own error
    study = open_study(cfg, out, trials)
    _same_search(study, cfg, out)
    _rerun_interrupted(study)
    if not study.trials:
        study.enqueue_trial(search.defaults, user_attrs={"default": True})
    done = _finished(study)
    workers = trial_workers(cfg)
    remaining = max(0, trials - len(done))
    console.print(
        f"tune: {trials} trials on {len(search.validation)} validation rows ({metric}), searching "
        f"{', '.join(search.space)}"
        + (f", {min(workers, remaining)} at a time" if workers > 1 and remaining > 1 else "")
        + (f"; {len(done)} already finished in {out / 'study.db'}" if done else "")
    )
    if workers > 1 and remaining > 1:
        _run_workers(search, study, trials, remaining, workers, budget_minutes)
    else:
        run_trials(search, study, remaining, budget_minutes and time.time() + budget_minutes * 60, trials)

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
        "validation_rows": len(search.validation),
        "space": {key: found.model_dump(exclude_defaults=True) for key, found in search.space.items()},
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


def open_study(cfg: TunewiseConfig, out: Path, trials: int, worker: int = 0):
    """The search's Optuna study in OUT/study.db (SQLite), created or resumed, with this process's sampler and
    pruner: seeded, but not the same draws again after a resume or in another worker; random for the first third
    of the search's ``trials``, then TPE's model."""
    import optuna

    storage = optuna.storages.RDBStorage(
        f"sqlite:///{(out / 'study.db').resolve()}", engine_kwargs={"connect_args": {"timeout": 120}}
    )  # workers wait for each other's writes instead of failing on a locked database
    study = optuna.create_study(
        study_name=STUDY,
        storage=storage,
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3) if cfg.tune.prune else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    study.sampler = optuna.samplers.TPESampler(
        seed=cfg.seed + len(study.trials) + 1000 * worker, n_startup_trials=max(3, trials // 3)
    )
    return study


def run_trials(search: Search, study, count: int, deadline: float | None, trials: int, worker: int = 0) -> None:
    """Run ``count`` trials one after another (none started after ``deadline``, a time.time() value), each one
    line of progress."""
    objective = _objective(search, worker)
    started = time.perf_counter()
    for _ in range(count):
        if deadline and time.time() > deadline:
            console.print(
                f"tune: the time budget ran out at {time.strftime('%H:%M:%S', time.localtime(deadline))} "
                f"({len(_finished(study))} of {trials} trials finished); no more trials are started"
            )
            break
        study.optimize(objective, n_trials=1, catch=())
        _say_progress(study, trials, started, search.metric)


def _objective(search: Search, worker: int):
    import optuna

    def objective(trial) -> float:
        values = suggest(trial, search.space)
        trial_cfg = with_model_recipe(with_values(search.cfg, values))
        folder = search.out / "trials" / f"{trial.number:03d}"
        shutil.rmtree(folder, ignore_errors=True)  # a trial interrupted by a kill starts again
        reporter = ReportToTrial(trial)
        trial.set_user_attr("worker", worker)
        started = time.perf_counter()
        with watching(reporter):
            result = train_stage(
                trial_cfg, search.model_path, search.renderer, search.splits, search.task, folder / "train"
            )
        minutes = (time.perf_counter() - started) / 60
        trial.set_user_attr("minutes", round(minutes, 4))
        trial.set_user_attr("steps", result.steps)
        trial.set_user_attr("best_val_loss", result.best_val_loss)
        if reporter.pruned_at is not None:
            shutil.rmtree(folder / "train", ignore_errors=True)
            raise optuna.TrialPruned(f"validation loss trailed the median trial's at step {reporter.pruned_at}")
        answers = tuned_answers(
            trial_cfg,
            search.model_path,
            search.renderer,
            result.checkpoint,
            search.validation,
            search.task,
            search.labels,
        )
        scores = row_scores(search.task, search.references, answers)
        atomic_write_json(folder / "validation_scores.json", scores)
        shutil.rmtree(folder / "train", ignore_errors=True)  # the chosen setting is trained again by the final run
        return sum(scores) / len(scores)

    return objective


def _run_workers(search: Search, study, trials: int, remaining: int, workers: int, budget_minutes) -> None:
    """One trial per device at a time: ``workers`` processes (`tunewise.tune.worker`) share the study, each with
    one GPU (CUDA_VISIBLE_DEVICES) or, on a CPU, its share of the cores, and each runs its share of the trials.
    Their output goes to OUT/workers/N.log; this process says each trial as it ends."""
    import os
    import subprocess
    import sys

    import torch

    out, gpus = search.out, torch.cuda.is_available()
    atomic_write_files({out / "search.yaml": yaml.safe_dump(search.cfg.resolved(), sort_keys=False)})
    (out / "workers").mkdir(exist_ok=True)
    deadline = time.time() + budget_minutes * 60 if budget_minutes else 0
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    processes = []
    started, said = time.perf_counter(), len(_finished(study))
    try:
        for index, share in enumerate(s for s in shares if s):
            env = dict(os.environ)
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(index)
            else:
                env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
            log = open(out / "workers" / f"{index}.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
            command = [sys.executable, "-m", "tunewise.tune.worker", str(out), str(index), str(share), str(trials)]
            processes.append((subprocess.Popen([*command, str(deadline)], env=env, stdout=log, stderr=log), log))
        while any(process.poll() is None for process, _ in processes):
            time.sleep(2)
            finished = len(_finished(study))
            if finished > said:
                said = finished
                _say_progress(study, trials, started, search.metric)
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
            log.close()
    for index, (process, log) in enumerate(processes):
        if process.returncode:
            lines = Path(log.name).read_text(encoding="utf-8").strip().splitlines() or ["(no output)"]
            raise TunewiseError(
                f"tune: trial worker {index} failed (exit {process.returncode}): {lines[-1]} (all of it in {log.name})"
            )


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
                "worker": trial.user_attrs.get("worker"),
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
