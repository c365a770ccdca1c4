"""Glue for run.sh that is specific to this story (not part of tunewise): the inputs, what the audit caught of
the injected faults, and the final JSON line.

    story.py prepare OUT [--intents N]   clean_train.jsonl and test.jsonl (with intent_group) from ../shared
    story.py rebalance-only OUT          OUT/rebalance_only.yaml: fintech.yaml with every cleaning step off
    story.py caught OUT                  per injected fault: how many rows the audit flagged (any check, and the
                                         check made for it: recall and precision), curation removed (for any
                                         reason, and for that check's)
    story.py pick OUT                    the selection's model as run overrides (model.name=..., objective)
    story.py annotate OUT CAMPAIGN       play the labeller of a label campaign in OUT/review.db from the pool's
                                         truth file, wrong on ANNOTATOR_ERROR of the rows (a confusable intent)
    story.py summary OUT START           the last line: {"raw_accuracy", ..., "recovered", "verdict", ...}
    story.py markdown OUT                the README's result tables, from OUT's JSON files
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import time
from collections import Counter
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "banking77"
SKEWED_SHARE = 1 / 3  # the rarest third of intents: the rates in README.md and run.sh
CHECK_FOR = {  # the audit check that exists to find each injected fault
    "exact_duplicate": "exact_duplicate",
    "near_duplicate": "near_duplicate",
    "label_noise": "label_issue",
    "boilerplate": "conflicting_duplicate",  # one text under many labels
    "empty": "empty",
    "leakage": "leakage",
}
ANNOTATOR_ERROR = 0.05  # fixed before the first run: a person labelling 900 rows gets about 1 in 20 wrong
NONE_OF_THESE = "__none__"  # the review app's answer for a row that fits no label (off-topic chat)
CLEANING_OFF = {
    "drop_leaked": False,
    "drop_exact_duplicates": False,
    "dedupe_near": False,
    "dedupe_semantic": False,
    "conflicts": "keep",
    "label_issues": "keep",
}


def prepare(out: Path, intents: int | None) -> None:
    train, test = _csv(SHARED / "train.csv"), _csv(SHARED / "test.csv")
    if intents:  # the fast variant: the most frequent N intents
        keep = {label for label, _ in Counter(r["category"] for r in train).most_common(intents)}
        train, test = [r for r in train if r["category"] in keep], [r for r in test if r["category"] in keep]
    counts = Counter(r["category"] for r in train)
    ranked = sorted(counts, key=lambda label: (counts[label], label))
    third = round(len(ranked) * SKEWED_SHARE)
    group = {label: "rare" for label in ranked[:third]} | {label: "common" for label in ranked[len(ranked) - third :]}
    _write(out / "clean_train.jsonl", train)
    _write(out / "test.jsonl", [r | {"intent_group": group.get(r["category"], "middle")} for r in test])
    print(f"{len(train)} training rows, {len(test)} test rows, {len(counts)} intents ({third} rare)")


def caught(out: Path) -> dict:
    """Per injected fault: rows, share the audit flagged (by any check), share curation dropped or changed."""
    truth = json.loads((out / "raw.jsonl.truth.json").read_text())["faults"]
    audit = json.loads((out / "audit" / "findings.json").read_text())
    flagged = {row for finding in audit["findings"] for row in finding["rows"]}
    by_check = {finding["check"]: set(finding["rows"]) for finding in audit["findings"]}
    changes = [json.loads(line) for line in (out / "curated" / "changelog.jsonl").read_text().splitlines()]
    changed = {change["row"] for change in changes}
    found = {}
    for fault, rows in sorted(truth.items()):
        if fault in ("skewed", "starved"):
            continue  # rows that were kept, not faulty rows
        rows = set(rows)
        best = max(by_check, key=lambda check: len(rows & by_check[check]))
        own = by_check.get(CHECK_FOR.get(fault, ""), set())
        for_its_check = {change["row"] for change in changes if change["reason"] == CHECK_FOR.get(fault)}
        found[fault] = {
            "rows": len(rows),
            "flagged": len(rows & flagged) / len(rows),
            "changed_by_curation": len(rows & changed) / len(rows),
            "changed_for_its_check": len(rows & for_its_check) / len(rows),
            "mostly_by": best,
            "check": CHECK_FOR.get(fault),
            "check_recall": len(rows & own) / len(rows),
            "check_precision": len(rows & own) / len(own) if own else None,
        }
        precision = found[fault]["check_precision"]
        print(
            f"{fault:>16}: {len(rows):5d} rows, audit flagged {found[fault]['flagged']:.0%} (mostly {best}); "
            f"{CHECK_FOR.get(fault)} alone: recall {found[fault]['check_recall']:.0%}, precision "
            f"{'-' if precision is None else f'{precision:.0%}'}; curation dropped or changed "
            f"{found[fault]['changed_by_curation']:.0%} ({found[fault]['changed_for_its_check']:.0%} for that check)"
        )
    found["any_check"] = {"rows_flagged": len(flagged), "rows": audit.get("rows")}
    (out / "caught.json").write_text(json.dumps(found, indent=2) + "\n")
    return found


def annotate(out: Path, campaign: str) -> dict:
    """One simulated labeller answers every item of ``campaign`` through the review app's own rules (the same
    assignment, shuffling and vote checks a person meets): the truth file's label, "none of these" for an
    off-topic row, and on ANNOTATOR_ERROR of the rows (seeded) a confusable intent (one sharing a word) instead."""
    from tunewise.review.auth import invite
    from tunewise.review.campaigns import campaign_named, next_assignment, submit
    from tunewise.review.db import Item, Reviewer, transaction

    truth = {row["row"]: row["label"] for row in json.loads((out / "pool.jsonl.truth.json").read_text())["rows"]}
    rng = random.Random(f"annotator-{campaign}")
    answered, wrong = 0, 0
    with transaction(str(out / "review.db")) as db:
        invite(db, campaign, "annotator")
        reviewer = db.query(Reviewer).filter_by(name="annotator", campaign_id=campaign_named(db, campaign).id).one()
        while (assignment := next_assignment(db, reviewer)) is not None:
            payload = db.get(Item, assignment.item_id).payload
            label = truth[payload["meta"]["pool_row"]]
            if label is not None and rng.random() < ANNOTATOR_ERROR:
                label, wrong = _confusable(label, payload["labels"], rng), wrong + 1
            submit(db, reviewer, assignment.public_id, {"label": label or NONE_OF_THESE})
            answered += 1
    print(f"annotator: {answered} items answered, {wrong} of them wrongly (a confusable intent)")
    return {"answered": answered, "wrong": wrong}


def _confusable(label: str, labels: list[str], rng) -> str:
    words = set(re.split(r"[_\W]+", label)) - {""}
    near = sorted(other for other in labels if other != label and words & set(re.split(r"[_\W]+", other)))
    return rng.choice(near or sorted(set(labels) - {label}))


def rebalance_only(out: Path) -> None:
    """The ablation's curation plan: the story's config with every cleaning step off, so only the cap and the
    upsampling act (empty rows still go: no run can train on them)."""
    import yaml

    config = yaml.safe_load((Path(__file__).parent / "fintech.yaml").read_text())
    config["curate"] |= CLEANING_OFF
    (out / "rebalance_only.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def pick(out: Path) -> str:
    """The model the curated run trains (the selection's pick, or the best that trains) as run overrides."""
    selection = json.loads((out / "select" / "selection.json").read_text())
    chosen = next(c for c in selection["candidates"] if c["name"] == selection["train_pick"])
    overrides = [f"model.name={chosen['model']}"]
    if chosen["kind"] == "decoder":
        overrides.append(f"train.objective={chosen['objective']}")
    return " ".join(overrides)


MAIN_PATH = ("1/8", "2/8", "3/8", "4/8", "5/8", "6/8")  # run.sh's stages up to the report of the final model


def summary(out: Path, started: float) -> dict:
    comparison = json.loads((out / "runs" / "curated" / "baseline" / "comparison.json").read_text())
    final = json.loads((out / "runs" / "labelled" / "summary.json").read_text())
    accuracy, c = comparison["metrics"]["accuracy"], comparison["comparison"]
    raw, cured = accuracy["baseline"]["value"], accuracy["run"]["value"]
    clean, rebalanced = (
        json.loads((out / "runs" / name / "summary.json").read_text())["tuned"]["accuracy"]
        for name in ("clean", "rebalanced")
    )
    damage = clean - raw
    stages = _stage_minutes(out, started)
    found = {
        "raw_accuracy": round(raw, 4),
        "curated_accuracy": round(cured, 4),
        "gain": round(c["gain"], 4),
        "ci_low": round(c["ci_low"], 4),
        "ci_high": round(c["ci_high"], 4),
        "p_value": float(f"{c['p_value']:.3g}"),
        "clean_accuracy": round(clean, 4),
        "rebalanced_accuracy": round(rebalanced, 4),
        # the share of the faults' damage that curation won back; the gain split into rebalancing and cleaning
        "recovered": round((cured - raw) / damage, 3) if damage > 0 else None,
        "gain_from_rebalancing": round(rebalanced - raw, 4),
        "gain_from_cleaning": round(cured - rebalanced, 4),
        "pool": _pool_figures(out, raw, clean),
        "by_intents": _by_intents(out),
        "minutes": round((time.time() - started) / 60, 1),
        "main_path_minutes": round(sum(m for name, m in stages.items() if name.startswith(MAIN_PATH)), 1),
        "minutes_by_stage": stages,
        "verdict": final["decision"]["verdict"],
        "deciding": final["decision"]["deciding"],
        "verdict_before_labelling": json.loads((out / "runs" / "curated" / "summary.json").read_text())["decision"][
            "verdict"
        ],
        "base_model": final["model"],
    }
    (out / "story.json").write_text(json.dumps(found, indent=2) + "\n")
    return found


def _pool_figures(out: Path, raw: float, clean: float) -> dict:
    """The second act: labels asked and added, the suggestions' accuracy against the truth file, distinct training
    inputs of the skewed intents before and after, and the labelled run against the random pick of the budget."""
    truth = {row["row"]: row for row in json.loads((out / "pool.jsonl.truth.json").read_text())["rows"]}
    items = [json.loads(line) for line in (out / "pool" / "labelled.items.jsonl").read_text().splitlines() if line]
    manifest = json.loads((out / "curated_labelled" / "manifest.json").read_text())["added_labelled"]
    vs_random = json.loads((out / "runs" / "labelled" / "baseline" / "comparison.json").read_text())
    accuracy, c = vs_random["metrics"]["accuracy"], vs_random["comparison"]
    labelled = accuracy["run"]["value"]
    raw_rows = [json.loads(line) for line in (out / "raw.jsonl").read_text().split("\n") if line.strip()]
    faults = json.loads((out / "raw.jsonl.truth.json").read_text())["faults"]
    skewed = {raw_rows[i].get("category") for i in faults.get("skewed", [])}
    from tunewise.evaluate.verdict import distinct_inputs_per_label
    from tunewise.rundir import RunDir

    distinct = {run: distinct_inputs_per_label(RunDir(out / "runs" / run)) for run in ("curated", "labelled")}
    right = sum(item["suggested_label"] == truth[item["meta"]["pool_row"]]["label"] for item in items)
    return {
        "budget": len(items),
        "picked_for": dict(Counter(item["meta"]["why"] for item in items)),
        "picked_kinds": dict(Counter(truth[item["meta"]["pool_row"]]["kind"] for item in items)),
        "suggestion_accuracy": round(right / len(items), 4) if items else None,
        "added": manifest["added"],
        "dropped_by_curation": manifest["dropped_by_curation"],
        "kept_out": manifest["kept_out"],
        "skewed_distinct_inputs": {
            run: {
                "min": min(counts.get(label, 0) for label in skewed),
                "median": sorted(counts.get(label, 0) for label in skewed)[len(skewed) // 2],
            }
            for run, counts in distinct.items()
        }
        if skewed
        else None,
        # every intent's distinct inputs in the curated data without and with the labels (curate's manifest)
        "distinct_inputs_by_class": manifest.get("distinct_inputs"),
        "labelled_accuracy": round(labelled, 4),
        "labelled_ci": [round(v, 4) for v in accuracy["run"]["ci"]] if accuracy["run"].get("ci") else None,
        "recovered": round((labelled - raw) / (clean - raw), 3) if clean > raw else None,
        "random_accuracy": round(accuracy["baseline"]["value"], 4),
        "gain_over_random": round(c["gain"], 4),
        "ci_low": round(c["ci_low"], 4),
        "ci_high": round(c["ci_high"], 4),
        "p_value": float(f"{c['p_value']:.3g}"),
    }


def _by_intents(out: Path) -> dict:
    """Accuracy of every run on the test rows of the intents the skew emptied (85 % of their training rows
    deleted: data no curation can bring back) and on the other intents (whose rows are all there, faults and all),
    and the share of the damage curation recovered in each."""
    raw_rows = [json.loads(line) for line in (out / "raw.jsonl").read_text().split("\n") if line.strip()]
    truth = json.loads((out / "raw.jsonl.truth.json").read_text())["faults"]
    skewed = {raw_rows[i].get("category") for i in truth.get("skewed", [])}
    predictions = {
        run: [json.loads(line) for line in (out / "runs" / run / "evaluate" / "predictions.jsonl").open()]
        for run in ("raw", "rebalanced", "curated", "random", "labelled", "clean")
    }
    found = {}
    for group, inside in (("skewed", True), ("other", False)):
        rows = {
            run: [p for p in found_rows if (p["reference"] in skewed) == inside]
            for run, found_rows in predictions.items()
        }
        if not rows["clean"]:  # e.g. the fast variant's few intents, none of them skewed
            continue
        scores = {
            run: round(sum(p["tuned"] == p["reference"] for p in part) / len(part), 4) for run, part in rows.items()
        }
        damage = scores["clean"] - scores["raw"]
        found[group] = {
            "intents": len({p["reference"] for p in rows["clean"]}),
            "test_rows": len(rows["clean"]),
            **scores,
            "recovered": round((scores["curated"] - scores["raw"]) / damage, 3) if damage > 0 else None,
            "recovered_with_pool": round((scores["labelled"] - scores["raw"]) / damage, 3) if damage > 0 else None,
        }
    if "skewed" in found:
        found["skewed"]["dropped_by_curation"] = _drops_in(out, skewed, raw_rows, truth)
    return found


def _drops_in(out: Path, intents: set, raw_rows: list[dict], truth: dict) -> dict:
    """Rows of ``intents`` that curation dropped, by reason, split by whether the injection made them faulty."""
    faulty = {row for fault, rows in truth.items() if fault not in ("skewed", "starved") for row in rows}
    counts: dict = {}
    for line in (out / "curated" / "changelog.jsonl").read_text().split("\n"):
        change = json.loads(line) if line else None
        if change and change["action"] == "drop" and raw_rows[change["row"]].get("category") in intents:
            kind = "faulty" if change["row"] in faulty else "clean"
            counts.setdefault(change["reason"], {"faulty": 0, "clean": 0})[kind] += 1
    return counts


def _stage_minutes(out: Path, started: float) -> dict:
    """Minutes per stage of run.sh, from the start times it writes to OUT/stages.tsv."""
    path = out / "stages.tsv"
    if not path.is_file():
        return {}
    marks = [line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line]
    times = [float(at) for at, _ in marks] + [time.time()]
    return {name: round((times[i + 1] - times[i]) / 60, 1) for i, (_, name) in enumerate(marks)}


def markdown(out: Path) -> str:
    """The README's result tables, from OUT's story.json, caught.json and run summaries (no copied numbers)."""
    story = json.loads((out / "story.json").read_text())
    budget = story["pool"]["budget"]
    runs = [("raw", "raw, faults injected"), ("rebalanced", "raw, rebalanced only (ablation)")]
    runs += [("curated", "curated"), ("random", f"curated + {budget} labels, random pick (reference)")]
    runs += [("labelled", f"curated + {budget} labels, tunewise's pick"), ("clean", "clean Banking77 (the ceiling)")]
    groups = story["by_intents"]
    lines = [
        f"| training data | training rows | accuracy | the {groups['skewed']['intents']} skewed intents "
        f"({groups['skewed']['test_rows']} rows) | the other {groups['other']['intents']} "
        f"({groups['other']['test_rows']} rows) |",
        "|---|---|---|---|---|",
    ]
    for name, title in runs:
        summary = json.loads((out / "runs" / name / "summary.json").read_text())
        accuracy = summary["tuned"]["accuracy"]
        shown = f"**{accuracy:.3f}**" if name in ("curated", "labelled") else f"{accuracy:.3f}"
        lines.append(
            f"| {title} | {summary['split']['train']:,} | {shown} | {groups['skewed'][name]:.3f} | "
            f"{groups['other'][name]:.3f} |"
        )
    recovered = [story["recovered"], groups["skewed"]["recovered"], groups["other"]["recovered"]]
    lines.append("| recovered by curation | | " + " | ".join(_share(value) for value in recovered) + " |")
    with_pool = [
        story["pool"]["recovered"],
        groups["skewed"]["recovered_with_pool"],
        groups["other"]["recovered_with_pool"],
    ]
    lines.append("| recovered by curation + labels | | " + " | ".join(_share(value) for value in with_pool) + " |")
    caught = json.loads((out / "caught.json").read_text())
    lines += [
        "",
        "| injected | rows | flagged (any check) | its own check | recall | precision | dropped or changed by "
        "curation | for its own check's reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fault, found in caught.items():
        if fault == "any_check":
            continue
        precision = "-" if found["check_precision"] is None else f"{found['check_precision']:.0%}"
        lines.append(
            f"| {fault.replace('_', ' ')} | {found['rows']:,} | {found['flagged']:.0%} | {found['check']} | "
            f"{found['check_recall']:.0%} | {precision} | {found['changed_by_curation']:.0%} | "
            f"{found['changed_for_its_check']:.0%} |"
        )
    stages = ", ".join(f"{name.split(' ', 1)[0]} {minutes}" for name, minutes in story["minutes_by_stage"].items())
    lines += ["", f"Minutes by stage of run.sh ({story['minutes']} in all): {stages}."]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"  # None: the raw data did no damage to recover


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [{"text": row["text"], "category": row["category"]} for row in csv.DictReader(handle)]


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=["prepare", "rebalance-only", "caught", "pick", "annotate", "summary", "markdown"]
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("started", nargs="?", default=None, help="summary: start time; annotate: the campaign")
    parser.add_argument("--intents", type=int)
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.out, args.intents)
    elif args.step == "rebalance-only":
        rebalance_only(args.out)
    elif args.step == "caught":
        caught(args.out)
    elif args.step == "pick":
        print(pick(args.out))
    elif args.step == "annotate":
        annotate(args.out, args.started)
    elif args.step == "markdown":
        print(markdown(args.out))
    else:
        print(json.dumps(summary(args.out, float(args.started or time.time()))))


if __name__ == "__main__":
    main()
