"""The data audit: every check in checks/, run over one data file, each with row-level evidence.

A check that crashes is recorded with ``status="error"``, one that does not apply with ``status="skipped"``;
the audit goes on either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunewise.data.audit import checks as _checks  # noqa: F401  (registers every check)
from tunewise.data.audit.base import CHECKS, AuditContext, Finding
from tunewise.errors import TunewiseError

MIN_ROWS, MIN_ROWS_PER_CLASS = 200, 20


@dataclass
class AuditResult:
    rows: int
    source: str
    task: str
    findings: list[Finding]
    sufficiency: dict | None = None
    sha256: str | None = None  # of the audited file, so saved findings are only reused for that file

    @property
    def failed(self) -> bool:
        """True when an error-severity finding flags rows, or a check could not run to the end."""
        return any((f.severity == "error" and f.rows) or f.status == "error" for f in self.findings)

    def summary(self) -> dict:
        flagged = {row for f in self.findings for row in f.rows}
        return {
            "task": self.task,
            "source": self.source,
            "flagged_rows": len(flagged),
            "by_severity": {
                level: sorted(f.check for f in self.findings if f.severity == level and f.rows)
                for level in ("error", "warning", "info")
            },
            "check_errors": sorted(f.check for f in self.findings if f.status == "error"),
            "sufficiency": self.sufficiency,
            "passed": not self.failed,
        }

    def to_json(self) -> dict:
        found = {"rows": self.rows, "findings": [f.to_json() for f in self.findings], "summary": self.summary()}
        return found | ({"sha256": self.sha256} if self.sha256 else {})


def run_audit(ctx: AuditContext, total_rows: int, source: str) -> AuditResult:
    """Run the configured checks (default: all) over ``ctx`` and collect their findings."""
    from tunewise._progress import progress_bar

    check_settings(ctx.settings)
    names = ctx.settings.checks or list(CHECKS)
    findings = []
    with progress_bar("audit", len(names)) as (progress, task):
        for name in names:
            check = CHECKS[name]()
            progress.update(task, note=name)
            findings.append(_run_one(check, ctx))
            progress.advance(task)
    return AuditResult(rows=total_rows, source=source, task=ctx.task, findings=findings, sufficiency=sufficiency(ctx))


def check_settings(settings) -> None:
    """audit.checks and audit.severity may only name registered checks (the registry is the one list of names)."""
    for key, names in (("audit.checks", settings.checks or []), ("audit.severity", settings.severity)):
        unknown = [name for name in names if name not in CHECKS]
        if unknown:
            named = ", ".join(map(repr, unknown))
            raise TunewiseError(f"config: {key}: unknown check {named} (known: {', '.join(CHECKS)})")


def sufficiency(ctx: AuditContext) -> dict:
    """Is there enough data for the task? A rule of thumb, stated with the numbers behind it."""
    classes = len({r["label"] for r in ctx.records}) if ctx.task == "classification" else 0
    needed = max(MIN_ROWS, MIN_ROWS_PER_CLASS * classes)
    rule = f"at least {MIN_ROWS} rows" + (f" and {MIN_ROWS_PER_CLASS} per class ({classes} classes)" if classes else "")
    enough = len(ctx.records) >= needed
    message = f"{len(ctx.records)} usable rows; {rule} recommended" + (
        "" if enough else ": too small for a reliable fine-tune and a trustworthy test score"
    )
    return {"usable_rows": len(ctx.records), "recommended_rows": needed, "enough": enough, "message": message}


def _run_one(check, ctx: AuditContext) -> Finding:
    def without_result(status: str, detail: dict) -> Finding:
        return Finding(check.name, ctx.severity_of(check), [], detail, check.description, status=status)

    if ctx.task not in check.tasks:
        return without_result("skipped", {"skipped_reason": f"not for {ctx.task} data"})
    try:
        finding = check.run(ctx)
    except Exception as exc:  # noqa: BLE001 - one broken check must not stop the audit
        return without_result("error", {"error": f"{type(exc).__name__}: {exc}"})
    if "skipped_reason" in finding.detail:
        finding.status = "skipped"
    return finding


def audit_file(
    cfg,
    data_path,
    against=(),
    model_path: str | None = None,
    findings: Path | None = None,
    add_labelled: Path | None = None,
) -> tuple[AuditResult, AuditContext]:
    """Load ``data_path`` leniently (bad rows become findings, not errors) and audit it, or take the audit of
    this very file from ``findings`` (what `tunewise audit --json` wrote) instead of running the checks again.
    With ``add_labelled`` (a label campaign's export), its labelled rows join the data after its last row and are
    audited with it (the leakage gate and the label checks see them too)."""
    from tunewise._io import sha256_file
    from tunewise.data.load import load_data, load_eval_data, report_skipped
    from tunewise.data.pool import read_labelled
    from tunewise.errors import TunewiseError
    from tunewise.models.registry import run_cache_dir

    if add_labelled is not None and findings is not None:
        raise TunewiseError(
            "--add-labelled with --findings: the saved audit has not seen the new rows; leave out --findings"
        )
    data_cfg = cfg.data.model_copy(update={"skip_invalid": True})
    loaded = load_data(data_cfg, Path(data_path))
    added: dict[int, dict] = {}
    added_counts: dict = {}
    if add_labelled is not None:
        known = set(cfg.data.labels or []) | {record["label"] for record in loaded.records}
        records, provenance, added_counts = read_labelled(Path(add_labelled), known)
        first = len(loaded.records) + len(loaded.problems)
        for offset, (record, origin) in enumerate(zip(records, provenance, strict=True)):
            loaded.records.append(record)
            loaded.row_ids.append(first + offset)
            added[first + offset] = origin
    against_records = {}
    for path in against:  # a bad evaluation row cannot be checked for leakage: say so, never drop it silently
        held_out = load_eval_data(data_cfg, Path(path), loaded.task)
        against_records[str(path)] = held_out.records
        report_skipped([f"{line} (not checked for leakage)" for line in held_out.skipped], "fix the file to check them")
    total = len(loaded.records) + len(loaded.problems)
    ctx = AuditContext(
        records=loaded.records,
        task=loaded.task,
        row_ids=loaded.row_ids,
        settings=cfg.audit,
        problems=loaded.problems,
        against=against_records,
        model_path=model_path,
        max_length=cfg.model.max_length,
        cache_dir=run_cache_dir(cfg),
        added=added,
        added_counts=added_counts,
    )
    digest = sha256_file(Path(data_path))
    if findings is not None:
        return saved_audit(Path(findings), digest, total, loaded.source, ctx), ctx
    result = run_audit(ctx, total, loaded.source)
    result.sha256 = digest
    return result, ctx


def saved_audit(path: Path, digest: str, rows: int, source: str, ctx: AuditContext) -> AuditResult:
    """An audit read back from its JSON; refused unless it was made of the same file (same SHA-256)."""
    from tunewise.errors import TunewiseError

    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TunewiseError(f"{path}: cannot read the saved audit ({exc})") from None
    if not isinstance(found, dict) or found.get("sha256") != digest or found.get("rows") != rows:
        raise TunewiseError(f"{path}: not an audit of {source} as it is now (audit it again with --json)")
    if not isinstance(found.get("findings"), list):
        raise TunewiseError(f"{path}: findings: missing or not a list (audit the data again with --json)")
    findings = [_saved_finding(path, number, f, ctx) for number, f in enumerate(found.get("findings"))]
    return AuditResult(rows, source, ctx.task, findings, sufficiency(ctx), digest)


ROWS_OF_PROBLEMS = ("malformed", "empty")  # the checks whose rows never became records


def _saved_finding(path: Path, number: int, found, ctx: AuditContext) -> Finding:
    """One finding of a saved audit, checked: a known check, rows (cluster members, label suggestions) that are
    rows of the data, and suggested labels among the data's labels, so that acting on it cannot touch a row that
    is not there or write a label that makes no sense."""
    from tunewise.errors import TunewiseError

    def refuse(field: str, why: str) -> TunewiseError:
        return TunewiseError(f"{path}: findings[{number}].{field}: {why} (audit the data again with --json)")

    if not isinstance(found, dict) or not isinstance(found.get("check"), str) or found["check"] not in CHECKS:
        raise refuse("check", "not a finding of a known check")
    rows, detail = found.get("rows"), found.get("detail")
    if not isinstance(rows, list) or not isinstance(detail, dict) or not isinstance(found.get("severity"), str):
        raise refuse("rows", "a finding has a list of rows, a severity and a detail")
    records = None if found["check"] in ROWS_OF_PROBLEMS else set(ctx.row_ids)
    members = detail.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, list) for m in members):
        raise refuse("detail.members", "not a list of clusters (lists of rows)")
    suggestions = detail.get("suggestions", [])
    if not isinstance(suggestions, list) or not all(isinstance(s, dict) for s in suggestions):
        raise refuse("detail.suggestions", "not a list of suggestions")
    for field, values in (
        ("rows", rows),
        ("detail.members", [row for cluster in members for row in cluster]),
        ("detail.suggestions.row", [s.get("row") for s in suggestions]),
    ):
        bad = [r for r in values if not _is_row(r, records)]
        if bad:
            raise refuse(field, f"{bad[0]!r} is not a row of the data")
    labels = {r["label"] for r in ctx.records if "label" in r}
    for s in suggestions:
        if s.get("suggested_label") not in labels or not all(isinstance(s.get(k), str) for k in ("text", "label")):
            raise refuse("detail.suggestions", f"row {s['row']}: its suggested_label, label or text is not the data's")
    return Finding(
        found["check"], found["severity"], rows, detail, found.get("description", ""), found.get("status", "ok")
    )


def _is_row(value, records: set[int] | None) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return records is None or value in records


__all__ = ["CHECKS", "check_settings", "AuditContext", "AuditResult", "Finding", "audit_file", "run_audit"]
