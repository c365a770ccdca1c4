"""`tunewise report RUN_DIR`: one self-contained HTML page (plots inlined) and a Markdown file with its PNGs."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from tunewise._format import duration, planned_memory
from tunewise._io import atomic_write_bytes, atomic_write_text
from tunewise.evaluate.metrics import headline_keys
from tunewise.report import plots
from tunewise.report.collect import collect
from tunewise.rundir import RunDir


def write_report(run_dir: Path, out: Path | None = None, shown_as: Path | None = None) -> dict:
    """Render the run's report into ``out`` (default run_dir/report); return the paths and the verdict. The page
    names the run folder ``shown_as`` (default run_dir): where a run being built will be once complete."""
    out = Path(out or RunDir(run_dir).report)
    data = collect(run_dir, shown_as)
    images = _figures(data)
    for name, png in images.items():
        atomic_write_bytes(out / f"{name}.png", png)
    inline = {name: "data:image/png;base64," + base64.b64encode(png).decode() for name, png in images.items()}
    files = {name: f"{name}.png" for name in images}
    audit_link = os.path.relpath(RunDir(run_dir).audit_html, out)
    atomic_write_text(out / "report.html", _render("report.html.j2", data, inline, audit_link))
    atomic_write_text(out / "report.md", _render("report.md.j2", data, files, audit_link))
    verdict = data["decision"]["verdict"] if data["decision"] else "not evaluated"
    return {"html": out / "report.html", "markdown": out / "report.md", "verdict": verdict, "data": data}


def _figures(data: dict) -> dict[str, bytes]:
    metrics, result = data["metrics"], data["train_result"] or {}
    figures = {
        "training_curves": plots.training_curves(
            data["train_log"], result.get("best_step"), bool(result.get("stopped_early"))
        )
    }
    if data["selection"]:
        figures["selection"] = plots.selection_plot(data["selection"])
    figures |= {f"tune_{name}": png for name, png in data["tune_plots"].items()}  # Optuna's own plots
    if metrics:
        figures["metrics"] = plots.metric_bars(metrics, headline_keys(data["task"], short=True))
        figures["slices"] = plots.slice_bars(metrics.get("slices", []))
        if data["task"] == "classification":
            figures["confusion"] = plots.confusion_heatmap(metrics["tuned"]["confusion"])
        if metrics.get("calibration"):
            figures["reliability"] = plots.reliability_plot(metrics["calibration"])
    return {name: png for name, png in figures.items() if png}


def _setting(value) -> str:
    """A hyperparameter as a person writes it: 2 (not 2.0000), 5e-05, 0.073."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a" if value is None else str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1e}" if abs(value) < 1e-3 else f"{value:.3g}"


def _render(template: str, data: dict, images: dict[str, str], audit_link: str) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("tunewise.report", "templates"),
        autoescape=select_autoescape(["html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md"] = _markdown_cell
    environment.filters["pct"] = lambda value: f"{100 * value:.1f} %"
    environment.filters["num"] = lambda value, digits=3: f"{value:.{digits}f}" if value is not None else "n/a"
    environment.filters["setting"] = _setting
    environment.filters["duration"] = lambda seconds: duration(seconds) if seconds else "-"
    environment.filters["planned_memory"] = planned_memory
    keys = headline_keys(data["task"]) if data["task"] else []
    return environment.get_template(template).render(**data, images=images, audit_link=audit_link, metric_keys=keys)


def _markdown_cell(value) -> str:
    """Untrusted text inside Markdown: no table-breaking pipes or newlines, no raw HTML."""
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
