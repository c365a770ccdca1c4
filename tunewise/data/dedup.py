"""Near-duplicate detection: MinHash LSH (datasketch) proposes candidates, exact Jaccard confirms them.

Texts are compared as sets of character 3-grams of their normalised form, which catches small edits (typos,
an added word, reordered words) in short texts such as chat queries as well as in long documents.
"""

from __future__ import annotations

from collections import defaultdict

from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
SHINGLE = 3


class UnionFind:
    """Disjoint sets over hashable items; ``union(a, b)`` keeps ``a``'s root as the root of the merged set."""

    def __init__(self, items=()):
        self.parent = {item: item for item in items}

    def find(self, item):
        parent = self.parent
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a, b) -> None:
        self.parent[self.find(b)] = self.find(a)

    def groups(self) -> list[list]:
        """Every set, its items in insertion order."""
        found: dict = defaultdict(list)
        for item in self.parent:
            found[self.find(item)].append(item)
        return list(found.values())


def clusters_from_pairs(n: int, pairs) -> list[list[int]]:
    """Connected components of size ≥ 2 among indices 0..n-1 joined by ``pairs``."""
    sets = UnionFind(range(n))
    for i, j in pairs:
        sets.union(i, j)
    return sorted(group for group in sets.groups() if len(group) > 1)


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    data = text.encode("utf-8")
    if len(data) <= size:
        return {data}
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _signatures(shingle_sets: list[set[bytes]]) -> list[MinHash]:
    return MinHash.bulk(shingle_sets, num_perm=NUM_PERM, seed=1)


def _lsh(threshold: float) -> MinHashLSH:
    # LSH only proposes candidates; a slightly lower threshold trades a few more exact checks for recall.
    return MinHashLSH(threshold=max(0.1, threshold - 0.15), num_perm=NUM_PERM)


def near_duplicate_clusters(normalized: list[str], threshold: float) -> list[list[int]]:
    """Clusters (lists of indices into ``normalized``) joining at least two different texts with Jaccard ≥ threshold.

    Identical texts share a cluster only when some other, different text joins them (exact duplicates are
    a check of their own).
    """
    members: dict[str, list[int]] = defaultdict(list)
    for index, text in enumerate(normalized):
        members[text].append(index)
    unique = list(members)
    sets = [shingles(text) for text in unique]
    lsh = _lsh(threshold)
    signatures = _signatures(sets)
    with lsh.insertion_session() as session:
        for key, signature in enumerate(signatures):
            session.insert(key, signature)
    joined = UnionFind(range(len(unique)))
    for i, signature in enumerate(signatures):
        for j in lsh.query(signature):
            if j > i and joined.find(i) != joined.find(j) and jaccard(sets[i], sets[j]) >= threshold:
                joined.union(i, j)
    clusters = [sorted(i for key in keys for i in members[unique[key]]) for keys in joined.groups() if len(keys) > 1]
    return sorted(clusters)


def repeats_of(normalized: list[str], corpus: list[str], threshold: float) -> set[int]:
    """Indices of ``normalized`` texts that repeat a text of ``corpus`` (both normalised): the same text, or a
    near-identical one (character 3-gram Jaccard ≥ threshold). The leakage gate's test."""
    seen = set(corpus)
    return {i for i, text in enumerate(normalized) if text in seen} | set(near_matches(normalized, corpus, threshold))


def rows_repeating(rows: list[list[str]], corpus: list[str], threshold: float) -> set[int]:
    """Indices of the rows (each a list of normalised texts, e.g. a chat's inputs turn by turn) of which any text
    repeats a text of ``corpus`` (see `repeats_of`)."""
    flat = [(row, text) for row, texts in enumerate(rows) for text in texts]
    return {flat[i][0] for i in repeats_of([text for _, text in flat], corpus, threshold)}


def near_matches(queries: list[str], corpus: list[str], threshold: float) -> dict[int, int]:
    """For each query index with a near match in ``corpus`` (Jaccard ≥ threshold), the index of one such match."""
    corpus_sets = [shingles(text) for text in corpus]
    lsh = _lsh(threshold)
    with lsh.insertion_session() as session:
        for key, signature in enumerate(_signatures(corpus_sets)):
            session.insert(key, signature)
    query_sets = [shingles(text) for text in queries]
    found: dict[int, int] = {}
    for i, signature in enumerate(_signatures(query_sets)):
        for j in lsh.query(signature):
            if jaccard(query_sets[i], corpus_sets[j]) >= threshold:
                found[i] = j
                break
    return found
