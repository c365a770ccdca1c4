"""The same (or nearly the same) input with different labels or outputs."""

from collections import Counter, defaultdict

from tunewise.data.audit.base import Check, Finding, register_check
from tunewise.data.audit.checks.duplicates import answer_key
from tunewise.data.dedup import UnionFind


@register_check
class ConflictingDuplicate(Check):
    name = "conflicting_duplicate"
    description = "The same or a near-identical input with different labels or outputs."
    severity = "error"
    # Two labels for one input is a contradiction; two summaries of one dialogue may both be right.
    severity_by_task = {"completion": "warning", "chat": "warning", "preference": "warning"}

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"{d['groups']} inputs with disagreeing answers"

    def run(self, ctx):
        by_input = defaultdict(list)
        for index, text in enumerate(ctx.normalized_inputs()):
            by_input[text].append(index)
        groups = [g for g in by_input.values() if len(g) > 1]
        if ctx.task == "classification":  # for labels, near-identical inputs must agree too
            groups += ctx.near_duplicate_clusters(ctx.settings.conflict_threshold)
        conflicts = []
        for group in groups:
            answers = Counter(answer_key(ctx, i) for i in group)
            if len(answers) > 1:
                conflicts.append(group)
        conflicts = _merge(conflicts)  # a row is in at most one conflict group
        detail = {
            "groups": len(conflicts),
            "examples": [
                [{"row": ctx.row_ids[i], "input": ctx.inputs()[i][:200], "answer": ctx.targets()[i][:200]} for i in g]
                for g in conflicts[:20]
            ],
            "members": [[ctx.row_ids[i] for i in g] for g in conflicts],
        }
        return self.finding(ctx, [i for g in conflicts for i in g], detail)


def _merge(groups: list[list[int]]) -> list[list[int]]:
    """Merge groups sharing a member."""
    sets = UnionFind()
    for group in groups:
        for member in group:
            sets.union(group[0], member)
    return sorted(sorted(g) for g in sets.groups())
