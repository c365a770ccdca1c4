"""`tunewise pool select`: the rows of an unlabelled pool worth a person's label, as a labelling campaign's items."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tunewise.cli.output import check_output_file, positive, results


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "pool",
        help="an unlabelled pool: pick the rows worth labelling where the data is thin or the model unsure",
        description="Work with an unlabelled pool (data.pool: JSONL, JSON, CSV or Parquet of inputs, no label) for a "
        "finished classification run.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    select = actions.add_parser(
        "select",
        help="pick --budget pool rows to label, as the items of a `label` review campaign",
        description="Score the pool with the run's model and the embedding baseline, and pick BUDGET rows by a "
        "fixed rule (docs/pool.md): never a repeat of a labelled or test row (the leakage gate) or of another pool "
        "row; first the classes with fewer distinct labelled inputs than curate.upsample_to, in proportion to "
        "what each lacks; then the rows the models are least sure of (smallest margin); never two near-identical "
        "wordings for one class. Writes OUT (items for `tunewise review create NAME --kind label --items OUT`) "
        "and OUT.plan.json (per class: why it got its share). With --random, a uniform pick of the same budget "
        "from the same gated rows: the reference that shows what the rule adds.",
    )
    select.add_argument("run_dir", type=Path, help="a finished classification run (`tunewise run`)")
    select.add_argument("--pool", type=Path, help="the unlabelled rows (default: the run's data.pool)")
    select.add_argument("--budget", type=positive, required=True, help="how many rows to ask labels for")
    select.add_argument("--out", type=Path, required=True, help="the campaign items to write (JSONL)")
    select.add_argument("--random", action="store_true", help="a seeded uniform pick instead of the rule")
    select.add_argument("--seed", type=int, help="the random pick's seed (default: the run's seed)")
    select.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pool import pool_of_run, select_from_pool

    args.pool = args.pool or pool_of_run(args.run_dir)
    for path in (args.out, args.out.with_name(args.out.name + ".plan.json")):
        check_output_file(path, [args.pool, args.run_dir])
    plan = select_from_pool(args.run_dir, args.pool, args.budget, args.out, args.random, args.seed)
    held = plan["pool"]["held_back"]
    results.print(
        f"pool {plan['pool']['path']}: {plan['pool']['rows']} rows, {plan['pool']['candidates']} candidates "
        f"(held back: {held['test']} repeat a test row, {held['labelled']} a labelled row, "
        f"{held['pool_repeat']} another pool row); scored by {' + '.join(plan['scored_by'])}"
    )
    results.print(_table(plan))
    reasons = ", ".join(f"{n} {why}" for why, n in plan["why"].items())
    results.print(f"wrote {plan['picked']} items ({reasons}) to {args.out} and {args.out}.plan.json")
    return 0


def _table(plan: dict) -> Table:
    random_pick = plan["rule"] == "random"
    title = f"the pick per class ({plan['rule']}; thin: fewer than {plan['thin_below']} distinct labelled inputs)"
    view = Table(title=title)
    for column in ("class", "labelled", "why", "picked"):
        view.add_column(column, justify="left" if column in ("class", "why") else "right")
    for label, found in sorted(plan["classes"].items(), key=lambda item: (-item[1].get("quota", 0), item[0])):
        if random_pick:
            why, picked = "drawn at random", found["random"]
        else:
            picked = found["thin"] + found["uncertain"]
            parts = []
            if found["quota"]:
                parts.append(
                    f"thin: lacks {found['deficit']}, share {found['quota']} of the budget, "
                    f"{found['candidates']} pool rows have it in their top 3"
                    + (f", only {found['thin']} distinct enough" if found["thin"] < found["quota"] else "")
                )
            if found["uncertain"]:
                parts.append(f"{found['uncertain']} where the models are least sure")
            why = "; ".join(parts)
        view.add_row(label, str(found["distinct_labelled"]), why, str(picked))
    return view
