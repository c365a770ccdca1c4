"""Class balance: counts per label (or per a metadata field for generation data), ratio, starved classes."""

from collections import Counter
from statistics import median

from tunewise.data.audit.base import Check, Finding, register_check


@register_check
class ClassImbalance(Check):
    name = "class_imbalance"
    description = "Counts per class, the imbalance ratio, and classes too small to learn or to evaluate."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"ratio {d.get('imbalance_ratio')}, below minimum: {len(d.get('below_minimum', {}))}"

    def run(self, ctx):
        field = ctx.settings.group_field
        if ctx.task == "classification":
            values = [r["label"] for r in ctx.records]
        elif field:
            values = [str(r["meta"].get(field, "<missing>")) for r in ctx.records]
        else:
            return self.finding(ctx, [], {"skipped_reason": "generation data: set audit.group_field to check balance"})
        counts = Counter(values)
        typical = median(counts.values())
        floor = max(ctx.settings.min_class_count, int(ctx.settings.min_class_share * typical))
        starved = sorted(name for name, n in counts.items() if n < floor)
        detail = {
            "field": "label" if ctx.task == "classification" else field,
            "counts": dict(counts.most_common()),
            "classes": len(counts),
            "imbalance_ratio": round(max(counts.values()) / min(counts.values()), 2),
            "median_count": typical,
            "minimum_count": floor,
            "below_minimum": {name: counts[name] for name in starved},
        }
        starved_set = set(starved)
        return self.finding(ctx, [i for i, v in enumerate(values) if v in starved_set], detail)
