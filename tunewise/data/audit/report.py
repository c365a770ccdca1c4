"""Render an audit: a terminal table, and a self-contained HTML page (Jinja2, autoescaped)."""

from __future__ import annotations

import json

from jinja2 import Environment
from rich.markup import escape
from rich.table import Table

from tunewise.data.audit import AuditResult
from tunewise.data.audit.base import CHECKS, Check

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def headline(finding) -> str:
    """One line saying what the finding amounts to, as its check words it."""
    if finding.status != "ok":
        return finding.detail.get("skipped_reason") or finding.detail.get("error", "")
    check = CHECKS.get(finding.check, Check)
    return check().summary(finding)


def table(result: AuditResult) -> Table:
    view = Table(title=escape(f"audit of {result.source}: {result.rows} rows ({result.task})"))
    for column in ("check", "severity", "rows flagged", "what"):
        view.add_column(column, no_wrap=column != "what")
    for finding in result.findings:
        severity = finding.severity if finding.rows else "-"
        if finding.status != "ok":
            severity = finding.status
        style = STYLE.get(severity, "dim" if finding.status != "ok" else "")
        view.add_row(
            finding.check,
            f"[{style}]{severity}[/]" if style else severity,
            str(len(finding.rows)),
            escape(headline(finding)),
        )
    return view


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tunewise audit: {{ source }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.4rem .6rem;text-align:left;vertical-align:top;font-size:.92rem}
th{background:#f6f8fa}.error{color:#b42318;font-weight:600}.warning{color:#9a6700;font-weight:600}
.info{color:#0969da}.muted{color:#656d76}.verdict{padding:.8rem 1rem;border-radius:6px;font-weight:600}
.pass{background:#dafbe1}.fail{background:#ffebe9}details{margin:.6rem 0}summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.6rem;border-radius:6px;font-size:.85rem}
</style></head><body>
<h1>Data audit: {{ source }}</h1>
<p class="muted">{{ rows }} rows, task: {{ task }}; {{ summary.flagged_rows }} rows flagged by at least one check.</p>
{% if summary.sufficiency and not summary.sufficiency.enough %}<p class="verdict fail">{{ summary.sufficiency.message }}</p>{% endif %}
<p class="verdict {{ 'pass' if summary.passed else 'fail' }}">{{ 'No blocking problems found.' if summary.passed
 else 'Blocking problems: ' ~ (summary.by_severity.error + summary.check_errors) | join(', ') }}</p>
<table><thead><tr><th>check</th><th>severity</th><th>rows flagged</th><th>what</th></tr></thead><tbody>
{% for f in findings %}<tr><td><a href="#{{ f.check }}">{{ f.check }}</a></td>
<td class="{{ f.severity if f.rows else 'muted' }}">{{ f.severity if f.rows else (f.status if f.status != 'ok' else '-') }}</td>
<td>{{ f.rows | length }}</td><td>{{ headlines[f.check] }}</td></tr>{% endfor %}
</tbody></table>
{% for f in findings %}<details id="{{ f.check }}" {{ 'open' if f.rows and f.severity == 'error' else '' }}>
<summary>{{ f.check }} — {{ f.description }}</summary>
<p>{{ f.rows | length }} rows flagged{% if f.rows %}: {{ f.rows[:40] | join(', ') }}{% if f.rows|length > 40 %}, …{% endif %}{% endif %}</p>
{% for title, rows in tables[f.check] %}<h4>{{ title }}</h4><table><thead><tr>{% for key in rows[0] %}<th>{{ key }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr>{% for value in row.values() %}<td>{{ value }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>{% endfor %}
<pre>{{ details[f.check] }}</pre></details>{% endfor %}
</body></html>
"""


TABLE_KEYS = ("examples", "suggestions")


def _tables(detail: dict) -> list[tuple[str, list[dict]]]:
    """Example rows as tables: a list of dicts is one table; a list of clusters is one table with a cluster column."""
    tables = []
    for key in TABLE_KEYS:
        items = detail.get(key) or []
        if items and isinstance(items[0], list):
            items = [{"cluster": n + 1, **member} for n, cluster in enumerate(items) for member in cluster]
        if items and isinstance(items[0], dict):
            tables.append((key, [{k: _cell(v) for k, v in item.items()} for item in items[:60]]))
    return tables


def _cell(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def html(result: AuditResult) -> str:
    env = Environment(autoescape=True)
    details = {}
    for finding in result.findings:
        shown = {k: v for k, v in finding.detail.items() if k not in ("members", *TABLE_KEYS)}
        details[finding.check] = json.dumps(shown, indent=2, ensure_ascii=False, default=str)[:20000]
    return env.from_string(PAGE).render(
        source=result.source,
        rows=result.rows,
        task=result.task,
        summary=result.summary(),
        findings=result.findings,
        headlines={f.check: headline(f) for f in result.findings},
        details=details,
        tables={f.check: _tables(f.detail) for f in result.findings},
    )
