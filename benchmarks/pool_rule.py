"""Which pool-selection rule to ship, decided on CLINC150 (never on Banking77, where the fintech story reports it).

Usage: .venv/bin/python benchmarks/pool_rule.py [--seeds 1 2 3] [--budget-ratio 1.18] [--thin-below 40]

The same faults as the fintech story, on CLINC150's 15,000 training rows (150 intents): the rarest third of the
intents keeps 15 % of its rows (here: 50 intents, 15 rows each, the rest goes to the pool), and the pool gets 15 %
distractors (near-copies of common intents' rows, off-topic lines), with tunewise's own `inject` and `pool_of`.
The pool passes tunewise's leakage gate. The learner is the embedding baseline (frozen MiniLM + logistic
regression, C = 10, the best of 1/10/100 on CLINC150 by hand), fitted on the labelled rows; it also scores the pool.
The budget is `--budget-ratio` times the thin intents' total deficit (the story: 900 labels for a deficit of 760).
A perfect labeller answers each picked row (a distractor is "none of these" and adds nothing). Each rule's pick is
added to the labelled rows, the learner refitted, and scored on CLINC150's 4,500 in-scope test rows.

Rules compared (each spends the budget on the thin intents up to their deficits, then on the least sure rows,
except `margin`, `margin_diverse` and `random`):
- thin_margin: a thin intent's rows least sure first (the smallest margin), diverse within the intent: the rule
              tunewise ships (tunewise.data.pool.choose), chosen by this benchmark
- confident:  a thin intent's rows ranked by its probability (the rule shipped before this benchmark)
- kmeans:     a thin intent's likeliest 3 x quota rows, clustered into quota groups (scikit-learn KMeans), the row
              nearest each group's centre (diverse mini-batch selection, Zhdanov 2019)
- coverage:   a thin intent's rows (its top class) picked farthest-first from the intent's labelled rows and the
              picks so far (greedy k-centre, as small-text's GreedyCoreset)
- margin:     the budget on the smallest margins, no thin-intent quotas (uncertainty sampling)
- margin_diverse: the same, skipping a row too like one already picked for its class (choose with no thin class)
- random:     uniform, three seeds, the reference the story reports its gain against
Writes benchmarks/results/pool_rule.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from tunewise.data.embed import embed_cached
from tunewise.data.faults import FaultRates, inject, pool_of
from tunewise.data.pool import choose, choose_random, gate, quotas, thin_classes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
CLINC = ROOT.parent / "shared" / "datasets" / "clinc150" / "data_full.json"
CACHE = ROOT / ".cache" / "pool_rule"
C = 10.0
TOP = 3


def fit(vectors: np.ndarray, labels: list[str]):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000).fit(vectors, labels)


def probabilities_for(model, vectors: np.ndarray, labels: list[str]) -> np.ndarray:
    found = np.zeros((len(vectors), len(labels)))
    column = {label: j for j, label in enumerate(labels)}
    proba = model.predict_proba(vectors)
    for k, label in enumerate(model.classes_):
        found[:, column[str(label)]] = proba[:, k]
    return found


def margins(probabilities: np.ndarray) -> np.ndarray:
    top = np.sort(probabilities, axis=1)[:, ::-1]
    return top[:, 0] - top[:, 1]


def fill_uncertain(rows: list[int], candidates: list[int], probabilities: np.ndarray, budget: int) -> list[int]:
    taken = set(rows)
    margin = margins(probabilities)
    for i in sorted((i for i in candidates if i not in taken), key=lambda i: (margin[i], i)):
        if len(rows) >= budget:
            break
        rows.append(i)
    return rows


def rule_kmeans(probabilities, labels, vectors, candidates, deficits, budget, seed) -> list[int]:
    from sklearn.cluster import KMeans

    wanted = quotas(deficits, budget)
    ranked = np.argsort(-probabilities, axis=1)
    column = {label: j for j, label in enumerate(labels)}
    taken: list[int] = []
    used: set[int] = set()
    for label in sorted(wanted, key=lambda lab: (wanted[lab], lab)):
        q, j = wanted[label], column[label]
        members = [i for i in candidates if j in ranked[i, :TOP] and i not in used]
        members.sort(key=lambda i: (-probabilities[i, j], i))
        members = members[: 3 * q]
        if len(members) <= q:
            chosen = members
        else:
            groups = KMeans(n_clusters=q, n_init=3, random_state=seed).fit(vectors[members])
            chosen = []
            for g in range(q):
                inside = [m for m, a in zip(members, groups.labels_, strict=True) if a == g]
                centre = groups.cluster_centers_[g]
                chosen.append(min(inside, key=lambda i: float(np.sum((vectors[i] - centre) ** 2))))
        taken += chosen
        used |= set(chosen)
    return fill_uncertain(taken, candidates, probabilities, budget)


def rule_coverage(probabilities, labels, vectors, candidates, deficits, budget, labelled_by_class) -> list[int]:
    wanted = quotas(deficits, budget)
    top1 = np.argmax(probabilities, axis=1)
    column = {label: j for j, label in enumerate(labels)}
    taken: list[int] = []
    for label in sorted(wanted):
        j = column[label]
        members = [i for i in candidates if top1[i] == j]
        if not members:
            continue
        anchors = labelled_by_class.get(label)
        nearest = np.max(vectors[members] @ anchors.T, axis=1) if anchors is not None else np.full(len(members), -1.0)
        for _ in range(min(wanted[label], len(members))):
            k = int(np.argmin(nearest))
            taken.append(members[k])
            nearest = np.maximum(nearest, vectors[members] @ vectors[members[k]])
            nearest[k] = 2.0
    return fill_uncertain(taken, candidates, probabilities, budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget-ratio", type=float, default=900 / 760)
    parser.add_argument("--thin-below", type=int, default=40)
    args = parser.parse_args()
    data = json.loads(CLINC.read_text())
    clean = [{"text": t, "label": label, "meta": {}} for t, label in data["train"]]
    test = [{"text": t, "label": label, "meta": {}} for t, label in data["test"]]
    test_vectors, _ = embed_cached([r["text"] for r in test], CACHE)
    clean_vectors, _ = embed_cached([r["text"] for r in clean], CACHE)
    test_truth = np.array([r["label"] for r in test])
    labels = sorted({r["label"] for r in clean})

    def accuracy(vectors, row_labels, thin=None) -> dict:
        predicted = fit(vectors, row_labels).predict(test_vectors)
        right = predicted == test_truth
        found = {"accuracy": round(float(np.mean(right)), 4)}
        if thin:
            mask = np.isin(test_truth, sorted(thin))
            found["thin_accuracy"] = round(float(np.mean(right[mask])), 4)
        return found

    started = time.perf_counter()
    clean_score = accuracy(clean_vectors, [r["label"] for r in clean])["accuracy"]
    results = {"clean": clean_score, "seeds": {}}
    print(f"clean {clean_score}", flush=True)
    for seed in args.seeds:
        removed: list = []
        rates = FaultRates(
            exact_duplicate=0, near_duplicate=0, label_noise=0, empty=0, leakage=0, skew_rarest=1 / 3, skew_keep=0.15
        )
        raw, _ = inject(clean, "classification", rates, seed=seed, removed=removed)
        pool_rows, truth = pool_of(removed, raw, "classification", 0.15, seed)
        pool_labels = [row["label"] for row in truth]
        raw_vectors, _ = embed_cached([r["text"] for r in raw], CACHE)
        raw_labels = [r["label"] for r in raw]
        pool_texts = [r["text"] for r in pool_rows]
        allowed, held = gate(pool_texts, [r["text"] for r in raw], [r["text"] for r in test], 0.8)
        pool_vectors, _ = embed_cached([pool_texts[i] for i in allowed], CACHE)
        cand_labels = [pool_labels[i] for i in allowed]
        probabilities = probabilities_for(fit(raw_vectors, raw_labels), pool_vectors, labels)
        distinct = Counter(label for _, label in {(r["text"], r["label"]) for r in raw})
        deficits = thin_classes(dict(distinct), labels, args.thin_below)
        budget = round(args.budget_ratio * sum(deficits.values()))
        local = list(range(len(allowed)))
        by_class = {}
        for label in deficits:
            mask = np.array([lab == label for lab in raw_labels])
            by_class[label] = raw_vectors[mask] if mask.any() else None
        raw_score = accuracy(raw_vectors, raw_labels, set(deficits))
        picks = {
            "confident": choose(
                probabilities, labels, pool_vectors, local, deficits, budget, within="probability"
            ).rows,
            "kmeans": rule_kmeans(probabilities, labels, pool_vectors, local, deficits, budget, seed),
            "coverage": rule_coverage(probabilities, labels, pool_vectors, local, deficits, budget, by_class),
            "margin": fill_uncertain([], local, probabilities, budget),
            "margin_diverse": choose(probabilities, labels, pool_vectors, local, {}, budget).rows,
            "thin_margin": choose(probabilities, labels, pool_vectors, local, deficits, budget).rows,
        }
        for r in range(3):
            picks[f"random{r}"] = choose_random(local, probabilities, labels, budget, seed * 100 + r).rows
        found = {
            "pool": len(pool_rows),
            "candidates": len(allowed),
            "held_back": held,
            "thin": len(deficits),
            "deficit": sum(deficits.values()),
            "budget": budget,
            "raw": raw_score,
            "rules": {},
        }
        print(f"seed {seed}: raw {raw_score} budget {budget} candidates {len(allowed)}", flush=True)
        for name, rows in picks.items():
            added = [i for i in rows if cand_labels[i] is not None]
            vectors = np.vstack([raw_vectors, pool_vectors[added]])
            score = accuracy(vectors, raw_labels + [cand_labels[i] for i in added], set(deficits))
            thin_rows = sum(1 for i in added if cand_labels[i] in deficits)
            damage = clean_score - raw_score["accuracy"]
            score.update(
                {
                    "picked": len(rows),
                    "distractors": len(rows) - len(added),
                    "thin_rows": thin_rows,
                    "recovered": round((score["accuracy"] - raw_score["accuracy"]) / damage, 3),
                }
            )
            found["rules"][name] = score
            print(f"  {name:10s} {score}", flush=True)
        results["seeds"][str(seed)] = found
    names = next(iter(results["seeds"].values()))["rules"]
    results["mean"] = {
        name: {
            key: round(float(np.mean([s["rules"][name][key] for s in results["seeds"].values()])), 4)
            for key in ("accuracy", "thin_accuracy", "recovered")
        }
        for name in names
    }
    results["mean"]["random"] = {
        key: round(float(np.mean([results["mean"][f"random{r}"][key] for r in range(3)])), 4)
        for key in ("accuracy", "thin_accuracy", "recovered")
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results["mean"], indent=1))
    record("pool_rule", results)


if __name__ == "__main__":
    main()
