"""What a run directory holds, defined once. Every stage reads and writes its files through ``RunDir``.

`tunewise run` builds the folder beside its place, as .NAME.partial, and renames it into place only when the run
is complete: an earlier run in the same place stays whole until then, and an interrupted run stays in
.NAME.partial for `tunewise run --resume`.

run_dir/
  config.yaml            the resolved config (defaults filled in, paths absolute)
  select/                base-model selection, when model.name is auto (selection.json, selection.png, split/)
  split/                 train.jsonl validation.jsonl test.jsonl manifest.json (SHA-256s, sizes, label counts)
                         rejects.jsonl (rows skipped under data.skip_invalid, with reason and content)
  audit/                 findings.json audit.html (when audit.in_run)
  train/                 metrics.jsonl result.json checkpoint/ (the best adapter or full weights), labels.json
                         (a classification head's classes in output order)
  evaluate/              predictions.jsonl metrics.json (evaluate-validation/ for `eval --split validation`)
  summary.json           headline metrics, warnings, the decision, training figures
  test_access.jsonl      every look at the test split
  baseline/              comparison.json (`tunewise compare RUN --baseline OTHER`)
  review/                campaign.json results.json (`tunewise review`)
  report/                report.html report.md and its plots
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

import yaml

from tunewise._io import read_jsonl
from tunewise.config import TunewiseConfig
from tunewise.errors import TunewiseError

SPLITS = ("train", "validation", "test")
# File names inside a stage's folder. A stage writes into the folder it is given (select and learning-curve
# reuse the stages elsewhere), so the stages take these names from here and RunDir builds its paths from them.
MANIFEST = "manifest.json"
REJECTS = "rejects.jsonl"  # beside the split files: every row a lenient load skipped, with its reason and content
TRAIN_LOG = "metrics.jsonl"
TRAIN_RESULT = "result.json"
CHECKPOINT = "checkpoint"
CHECKPOINTS = "checkpoints"  # the Trainer's periodic checkpoints while training runs (removed when it ends)
HEAD_LABELS = "labels.json"  # beside a classification head's checkpoint: its classes in output order
METRICS = "metrics.json"
PREDICTIONS = "predictions.jsonl"
FINDINGS = "findings.json"
AUDIT_HTML = "audit.html"
SELECTION = "selection.json"
# what `tunewise curate --out` writes (its folder is replaced as a whole)
CURATION_FILES = {"curated.jsonl", "changelog.jsonl", "relabel_queue.jsonl", "audit.json", "manifest.json"}


PARTIAL_SUFFIX = ".partial"


def partial_dir(run_root: Path) -> Path:
    """Where the run for ``run_root`` is built until it is complete."""
    return Path(run_root).with_name(f".{Path(run_root).name}{PARTIAL_SUFFIX}")


def run_name(folder: Path) -> str:
    """The name a run folder has, or will have once complete."""
    name = Path(folder).name
    if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
        return name[1 : -len(PARTIAL_SUFFIX)]
    return name


def split_file_name(name: str) -> str:
    return f"{name}.jsonl"


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def test_access(self) -> Path:
        return self.root / "test_access.jsonl"

    @property
    def select(self) -> Path:
        return self.root / "select"

    @property
    def selection(self) -> Path:
        return self.select / SELECTION

    @property
    def split(self) -> Path:
        return self.root / "split"

    def split_file(self, name: str) -> Path:
        return self.split / split_file_name(name)

    @property
    def rejects(self) -> Path:
        return self.split / REJECTS

    @property
    def manifest(self) -> Path:
        return self.split / MANIFEST

    @property
    def audit(self) -> Path:
        return self.root / "audit"

    @property
    def findings(self) -> Path:
        return self.audit / FINDINGS

    @property
    def audit_html(self) -> Path:
        return self.audit / AUDIT_HTML

    @property
    def tune(self) -> Path:
        """`tunewise tune`'s record of the search that chose this run's setting (tuning.json and its plots)."""
        return self.root / "tune"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def train_log(self) -> Path:
        return self.train / TRAIN_LOG

    @property
    def train_result(self) -> Path:
        return self.train / TRAIN_RESULT

    @property
    def checkpoint(self) -> Path:
        return self.train / CHECKPOINT

    @property
    def head_labels(self) -> Path:
        return self.train / HEAD_LABELS

    def evaluate(self, split: str = "test") -> Path:
        return self.root / ("evaluate" if split == "test" else f"evaluate-{split}")

    def metrics(self, split: str = "test") -> Path:
        return self.evaluate(split) / METRICS

    def predictions(self, split: str = "test") -> Path:
        return self.evaluate(split) / PREDICTIONS

    @property
    def baseline(self) -> Path:
        return self.root / "baseline"

    @property
    def comparison(self) -> Path:
        return self.baseline / "comparison.json"

    @property
    def review(self) -> Path:
        return self.root / "review"

    @property
    def review_results(self) -> Path:
        return self.review / "results.json"

    @property
    def review_campaign(self) -> Path:
        return self.review / "campaign.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def load_config(self) -> TunewiseConfig:
        if not self.config.exists():
            raise TunewiseError(f"{self.root}: not a tunewise run directory (no config.yaml)")
        return TunewiseConfig.model_validate(yaml.safe_load(self.config.read_text(encoding="utf-8")))

    def read_splits(self) -> dict[str, list[dict]]:
        """The split stage's three files; a clear error when the split did not finish."""
        found = {}
        for name in SPLITS:
            path = self.split_file(name)
            if not path.exists():
                raise TunewiseError(f"{path}: missing; the run's split stage did not finish (rerun tunewise run)")
            found[name] = read_jsonl(path)
        return found

    def task(self) -> str:
        return read_json(self.manifest)["task"]


def read_json(path: Path):
    """A JSON file's content, or None when the file does not exist."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def versions() -> dict:
    """Python and the library versions that decide what a run computes, for manifests."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("tunewise", "torch", "transformers", "peft", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
