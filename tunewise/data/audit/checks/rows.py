"""Rows that never became records: unparseable or missing fields (malformed), or empty fields (empty)."""

from tunewise.data.audit.base import Check, Finding, register_check
from tunewise.errors import where


def _problem_finding(check: Check, ctx, problems) -> Finding:
    detail = {
        "count": len(problems),
        "examples": [
            {"row": p.row, "location": p.location, "line": p.line, "field": p.field, "reason": p.reason}
            for p in problems[:50]
        ],
    }
    return Finding(check.name, ctx.severity_of(check), [p.row for p in problems], detail, check.description)


def _problem_summary(finding: Finding) -> str:
    """The count and the first rows by line, field and reason: a rejected row is never only a number."""
    named = "; ".join(_where(example) for example in finding.detail.get("examples", [])[:3])
    more = ", …" if finding.detail.get("count", 0) > 3 else ""
    return f"{finding.detail.get('count', len(finding.rows))} rows" + (f": {named}{more}" if named else "")


def _where(example: dict) -> str:
    line = f"line {example['line']}" if example.get("line") is not None else f"row {example['row'] + 1}"
    return f"{where(line, None, example.get('field'))}: {example['reason']}"


class _RowProblems(Check):
    """A check of rows that never became records; its summary names the first of them."""

    def summary(self, finding):
        return _problem_summary(finding)


@register_check
class Malformed(_RowProblems):
    name = "malformed"
    description = "Rows that do not parse or lack required fields."
    severity = "error"

    def run(self, ctx):
        return _problem_finding(self, ctx, [p for p in ctx.problems if p.reason != "empty"])


@register_check
class Empty(_RowProblems):
    name = "empty"
    description = "Empty or whitespace-only inputs, outputs or labels."
    severity = "error"

    def run(self, ctx):
        return _problem_finding(self, ctx, [p for p in ctx.problems if p.reason == "empty"])
