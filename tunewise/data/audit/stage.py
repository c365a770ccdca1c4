"""The audit stage of a run: audit the training data (against the test file, if any) and keep the findings
for the report. The split stage already keeps duplicates together and test inputs out of training."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import atomic_write_json, atomic_write_text
from tunewise._progress import console
from tunewise.data.audit import audit_file
from tunewise.data.audit.report import html
from tunewise.rundir import AUDIT_HTML, FINDINGS


def audit_stage(cfg, model_path: str, out: Path) -> dict:
    """Write out/findings.json and out/audit.html; return the findings."""
    against = [cfg.resolve_path(cfg.data.test_path)] if cfg.data.test_path else []
    result, _ = audit_file(cfg, cfg.resolve_path(cfg.data.path), against, model_path)
    found = result.to_json()
    atomic_write_json(out / FINDINGS, found)
    atomic_write_text(out / AUDIT_HTML, html(result))
    flagged = {f.check: len(f.rows) for f in result.findings if f.rows}
    console.print(
        f"audit: {found['summary']['flagged_rows']} of {result.rows} rows flagged"
        + (f" ({', '.join(f'{k} {v}' for k, v in flagged.items())}); see {out / AUDIT_HTML}" if flagged else "")
    )
    return found
