"""The shape every audit check shares: the registry (CHECKS), a context with cached shared work, and a Finding."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunewise.data.formats import input_text, normalize, target_text
from tunewise.data.load import RowProblem


@dataclass
class Finding:
    """What one check found. ``rows`` are 0-based positions among the input rows."""

    check: str
    severity: str
    rows: list[int]
    detail: dict[str, Any]
    description: str = ""
    status: str = "ok"  # ok | skipped (inputs missing) | error (the check itself failed)

    def to_json(self) -> dict:
        return {
            "check": self.check,
            "severity": self.severity,
            "status": self.status,
            "description": self.description,
            "rows": sorted(self.rows),
            "detail": self.detail,
        }


class Check:
    """One audit check. Subclasses set the class attributes and implement ``run``."""

    name: str = ""
    description: str = ""
    severity: str = "warning"
    severity_by_task: dict[str, str] = {}
    tasks: tuple[str, ...] = ("classification", "completion", "chat", "preference")

    def run(self, ctx: AuditContext) -> Finding:
        raise NotImplementedError

    def summary(self, finding: Finding) -> str:
        """One line saying what the finding amounts to (checks with more to say override it)."""
        return f"{finding.detail.get('count', len(finding.rows))} rows"

    def finding(self, ctx: AuditContext, record_indices, detail: dict) -> Finding:
        """A finding flagging records (by index into ctx.records), reported by input row."""
        rows = sorted({ctx.row_ids[i] for i in record_indices})
        return Finding(self.name, ctx.severity_of(self), rows, detail, self.description)


CHECKS: dict[str, type[Check]] = {}  # name -> check, in the order the audit runs and shows them


def register_check(cls: type[Check]) -> type[Check]:
    if not cls.name or cls.name in CHECKS:
        raise ValueError(f"check {cls.__name__} needs a unique name")
    CHECKS[cls.name] = cls
    return cls


@dataclass
class AuditContext:
    """The data under audit plus work several checks share (normalised texts, embeddings, clusters)."""

    records: list[dict]
    task: str
    row_ids: list[int]
    settings: Any  # config.AuditConfig
    problems: list[RowProblem] = field(default_factory=list)
    against: dict[str, list[dict]] = field(default_factory=dict)
    model_path: str | None = None
    max_length: int = 256
    cache_dir: Path | None = None  # where embeddings are cached by content (None: not cached)
    added: dict[int, dict] = field(default_factory=dict)  # row id -> provenance of a row added from a label export
    added_counts: dict = field(default_factory=dict)  # the export's rows by status (labelled, unclear, ...)
    cache: dict[str, Any] = field(default_factory=dict)

    def severity_of(self, check: Check) -> str:
        default = check.severity_by_task.get(self.task, check.severity)
        return self.settings.severity.get(check.name, default)

    def shared(self, key: str, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def inputs(self) -> list[str]:
        return self.shared("inputs", lambda: [input_text(r, self.task) for r in self.records])

    def targets(self) -> list[str]:
        return self.shared("targets", lambda: [target_text(r, self.task) for r in self.records])

    def normalized_inputs(self) -> list[str]:
        return self.shared("normalized_inputs", lambda: [normalize(t) for t in self.inputs()])

    def input_embeddings(self) -> np.ndarray:
        return self.shared("input_embeddings", lambda: self.embeddings(self.inputs()))

    def embeddings(self, texts: list[str]) -> np.ndarray:
        from tunewise.data.embed import embed_cached

        return embed_cached(texts, self.cache_dir, self.settings.embedding_batch_size)[0]

    def near_duplicate_clusters(self, threshold: float | None = None) -> list[list[int]]:
        from tunewise.data.dedup import near_duplicate_clusters

        threshold = threshold or self.settings.near_duplicate_threshold
        return self.shared(
            f"near_clusters@{threshold}", lambda: near_duplicate_clusters(self.normalized_inputs(), threshold)
        )
