"""Rows that mean the same thing in different words: cosine similarity of MiniLM sentence embeddings."""

import numpy as np

from tunewise.data.audit.base import Check, register_check

BLOCK = 2048


def similar_pairs(vectors: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) of unit vectors with cosine ≥ threshold, computed block by block to bound memory."""
    pairs = []
    for start in range(0, len(vectors), BLOCK):
        block = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = np.nonzero(block >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if start + r < c:
                pairs.append((start + r, c))
    return pairs


def clusters_from_pairs(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted(g for g in groups.values() if len(g) > 1)


@register_check
class SemanticDuplicate(Check):
    name = "semantic_duplicate"
    description = "Inputs that say the same thing in other words (sentence-embedding cosine above a threshold)."
    severity = "info"

    def run(self, ctx):
        threshold = ctx.settings.semantic_threshold
        texts = ctx.normalized_inputs()
        # Pairs with the same normalised text are exact duplicates, reported by their own check.
        pairs = [(i, j) for i, j in similar_pairs(ctx.input_embeddings(), threshold) if texts[i] != texts[j]]
        clusters = clusters_from_pairs(len(texts), pairs)
        ctx.cache["semantic_clusters"] = clusters
        detail = {
            "threshold": threshold,
            "clusters": len(clusters),
            "removable": sum(len(c) - 1 for c in clusters),
            "examples": [
                [{"row": ctx.row_ids[i], "input": ctx.inputs()[i][:200]} for i in c[:5]] for c in clusters[:20]
            ],
            "members": [[ctx.row_ids[i] for i in c] for c in clusters],
        }
        return self.finding(ctx, [i for c in clusters for i in c], detail)
