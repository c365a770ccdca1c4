"""Rows that mean the same thing in different words: cosine similarity of MiniLM sentence embeddings."""

from tunewise.data.audit.base import Check, Finding, register_check
from tunewise.data.audit.checks.duplicates import clusters_detail, split_summary
from tunewise.data.dedup import clusters_from_pairs
from tunewise.data.embed import similar_pairs


@register_check
class SemanticDuplicate(Check):
    name = "semantic_duplicate"
    description = "Inputs that say the same thing in other words (sentence-embedding cosine above a threshold)."
    severity = "info"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"{d['clusters']} clusters (cosine ≥ {d['threshold']}){split_summary(d)}"

    def run(self, ctx):
        threshold = ctx.settings.semantic_threshold
        texts = ctx.normalized_inputs()
        # Pairs with the same normalised text are exact duplicates, reported by their own check.
        pairs = [(i, j) for i, j in similar_pairs(ctx.input_embeddings(), threshold) if texts[i] != texts[j]]
        clusters = clusters_from_pairs(len(texts), pairs)
        ctx.cache["semantic_clusters"] = clusters
        detail = {"threshold": threshold, **clusters_detail(ctx, clusters)}
        return self.finding(ctx, [i for c in clusters for i in c], detail)
