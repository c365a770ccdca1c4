"""Exact duplicates (identical input and output after normalisation) and near duplicates (MinHash LSH)."""

from collections import defaultdict

from tunewise.data.audit.base import Check, Finding, register_check
from tunewise.data.formats import normalize


def answer_key(ctx, index: int) -> str:
    """What must agree between duplicates: the exact label, or the normalised output (chosen and rejected)."""
    record = ctx.records[index]
    if ctx.task == "classification":
        return record["label"]
    if ctx.task == "preference":
        return f"{normalize(record['chosen'])}\x00{normalize(record['rejected'])}"
    return normalize(ctx.targets()[index])


def exact_groups(ctx) -> list[list[int]]:
    groups = defaultdict(list)
    for index, text in enumerate(ctx.normalized_inputs()):
        groups[(text, answer_key(ctx, index))].append(index)
    return [members for members in groups.values() if len(members) > 1]


def clusters_detail(ctx, clusters: list[list[int]], split: bool = True) -> dict:
    detail = {
        "clusters": len(clusters),
        "rows_in_clusters": sum(len(c) for c in clusters),
        "removable": sum(len(c) - 1 for c in clusters),
        "examples": [[{"row": ctx.row_ids[i], "input": ctx.inputs()[i][:200]} for i in c[:5]] for c in clusters[:20]],
        "members": [[ctx.row_ids[i] for i in c] for c in clusters],
    }
    if split and ctx.task == "classification":  # exact copies are copies, not paraphrases
        detail |= harmful_or_paraphrase(ctx, clusters)
        for example, cluster in zip(detail["examples"], clusters, strict=False):
            for member, i in zip(example, cluster, strict=False):
                member["label"] = ctx.records[i]["label"]
    return detail


def harmful_or_paraphrase(ctx, clusters: list[list[int]]) -> dict:
    """Classification: which clustered rows do harm and which are natural paraphrases. A cluster under more than
    one label says one thing under two intents: harmful (a wrong label or an ambiguous wording). In a one-label
    cluster, the rows after the first are other wordings of the same request: paraphrases, which teach a
    classifier the ways people ask (curate.duplicates: keep_paraphrases keeps them; cap_per_class drops them first
    where a class is over its cap)."""
    harmful = paraphrases = 0
    for cluster in clusters:
        if len({ctx.records[i]["label"] for i in cluster}) > 1:
            harmful += len(cluster)
        else:
            paraphrases += len(cluster) - 1
    return {"harmful_rows": harmful, "paraphrase_rows": paraphrases}


def split_summary(detail: dict) -> str:
    if "harmful_rows" not in detail:
        return ""
    return (
        f": {detail['harmful_rows']} rows in clusters that span labels (harmful), "
        f"{detail['paraphrase_rows']} same-label paraphrases (natural wordings)"
    )


@register_check
class ExactDuplicate(Check):
    name = "exact_duplicate"
    description = "Rows identical to another after normalising case, whitespace, punctuation and unicode."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"{d['clusters']} groups, {d['removable']} removable copies"

    def run(self, ctx):
        groups = exact_groups(ctx)
        return self.finding(ctx, [i for g in groups for i in g], clusters_detail(ctx, groups, split=False))


@register_check
class NearDuplicate(Check):
    name = "near_duplicate"
    description = "Clusters of inputs that differ by small edits (MinHash LSH, confirmed by exact Jaccard)."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"{d['clusters']} clusters (Jaccard ≥ {d['threshold']}){split_summary(d)}"

    def run(self, ctx):
        clusters = ctx.near_duplicate_clusters()
        detail = clusters_detail(ctx, clusters)
        detail["threshold"] = ctx.settings.near_duplicate_threshold
        return self.finding(ctx, [i for c in clusters for i in c], detail)
