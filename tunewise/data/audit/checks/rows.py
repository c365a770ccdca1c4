"""Rows that never became records: unparseable or missing fields (malformed), or empty fields (empty)."""

from tunewise.data.audit.base import Check, Finding, register_check


def _problem_finding(check: Check, ctx, problems) -> Finding:
    detail = {
        "count": len(problems),
        "examples": [{"row": p.row, "location": p.location, "reason": p.reason} for p in problems[:50]],
    }
    return Finding(check.name, ctx.severity_of(check), [p.row for p in problems], detail, check.description)


@register_check
class Malformed(Check):
    name = "malformed"
    description = "Rows that do not parse or lack required fields."
    severity = "error"

    def run(self, ctx):
        return _problem_finding(self, ctx, [p for p in ctx.problems if p.reason != "empty"])


@register_check
class Empty(Check):
    name = "empty"
    description = "Empty or whitespace-only inputs, outputs or labels."
    severity = "error"

    def run(self, ctx):
        return _problem_finding(self, ctx, [p for p in ctx.problems if p.reason == "empty"])
