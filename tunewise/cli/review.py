"""`tunewise review ACTION`: human-review campaigns. Each action calls the campaign functions and prints tables
or JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from rich.table import Table

from tunewise._io import atomic_write_json, atomic_write_jsonl
from tunewise._progress import console
from tunewise.cli.output import check_output_file, check_port_free
from tunewise.cli.output import results as stdout
from tunewise.errors import TunewiseError
from tunewise.rundir import RunDir


def add_parser(commands) -> None:
    review = commands.add_parser(
        "review",
        help="human review: blind pairwise votes, rubric ratings, relabelling; agreement and results",
        description="Run a human-review campaign: create it from an items file or a run's test predictions, "
        "invite reviewers (login links), serve the review pages, read the results with agreement statistics, "
        "and export the votes as DPO preferences or a relabel patch for `tunewise curate`.",
    )
    review.set_defaults(handler=handle)
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=description)
        parser.add_argument(
            "--db",
            metavar="URL",
            help="sqlite:///FILE, a file path, or postgresql://user@host/db "
            "(default: $TUNEWISE_REVIEW_DB or ./review.db)",
        )
        return parser

    serve_parser = action("serve", "serve the review pages", "Serve the review app (FastAPI) until interrupted.")
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")

    create_parser = action(
        "create",
        "create a campaign from an items file or a run",
        "Create a campaign. Items file lines: pairwise/rating {id, prompt, outputs: {system: text}, meta}; "
        "relabel {id, text, label, suggested_label, labels} as `tunewise curate` writes relabel_queue.jsonl; "
        "label {id, text, suggested_label, choices, labels} as `tunewise pool select` writes its items (the "
        "reviewer picks a label, none of these, or unclear; the choices are shuffled per reviewer).",
    )
    create_parser.add_argument("name", help="campaign name")
    create_parser.add_argument(
        "--kind", required=True, choices=["pairwise", "rating", "relabel", "label"], help="campaign kind"
    )
    source = create_parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", type=Path, metavar="FILE.jsonl", help="the items, one JSON object per line")
    source.add_argument("--from-run", type=Path, metavar="RUN_DIR", help="base vs tuned test predictions of a run")
    create_parser.add_argument(
        "--baseline-run",
        type=Path,
        metavar="RUN_DIR",
        help="with --from-run: this run's tuned model against the baseline run's, not the base model",
    )
    create_parser.add_argument("--per-item", type=int, default=2, metavar="K", help="reviewers per item (default 2)")
    create_parser.add_argument(
        "--rubric",
        type=Path,
        metavar="FILE.yaml",
        help="rating criteria (default: relevance, "
        "coherence, tone, persuasiveness), a list of {name, question, anchors: [5 texts]}",
    )

    invite_parser = action(
        "invite",
        "print a login URL for a reviewer",
        "Invite a reviewer: the last line printed is their login URL. Only the token's hash is stored.",
    )
    invite_parser.add_argument("name", help="campaign name")
    invite_parser.add_argument("--reviewer", required=True, metavar="WHO", help="the reviewer's name")
    invite_parser.add_argument("--admin", action="store_true", help="may see the results page")
    invite_parser.add_argument("--base-url", default="http://127.0.0.1:8765", help="where the app is served")
    invite_parser.add_argument("--days", type=float, default=14, help="days until the link expires (default 14)")

    revoke_parser = action(
        "revoke", "revoke a reviewer's login links", "Revoke every login link of a reviewer and end their sessions."
    )
    revoke_parser.add_argument("name", help="campaign name")
    revoke_parser.add_argument("--reviewer", required=True, metavar="WHO", help="the reviewer's name")

    results_parser = action(
        "results",
        "agreement, win rates, scores",
        "Print a campaign's results: agreement "
        "(Cohen's kappa, Krippendorff's alpha), Wilson win rates, Bradley-Terry scores, criterion means.",
    )
    results_parser.add_argument("name", help="campaign name")
    results_parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    results_parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.json",
        help="also write them here (RUN_DIR/review/results.json puts them in the run's report)",
    )

    export_parser = action(
        "export",
        "votes as DPO data, a relabel patch or new labels",
        "Export a pairwise campaign's decisive votes "
        "as DPO rows (prompt, chosen, rejected; ties and both-bad left out), a relabel campaign's "
        "majority labels as a patch for `tunewise curate --relabel-patch`, or a label campaign's majority labels "
        "with their agreement for `tunewise curate --add-labelled`.",
    )
    export_parser.add_argument("name", help="campaign name")
    target = export_parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--preferences", type=Path, metavar="OUT.jsonl", help="DPO rows (pairwise campaigns)")
    target.add_argument("--patch", type=Path, metavar="OUT.jsonl", help="relabel patch (relabel campaigns)")
    target.add_argument(
        "--labels",
        type=Path,
        metavar="OUT.jsonl",
        help="majority labels, or none_of_these / unclear / no_majority, with votes and agreement (label campaigns)",
    )
    export_parser.add_argument(
        "--min-votes",
        type=int,
        metavar="N",
        help="relabel, label: items with fewer votes are left out (default: the campaign's --per-item)",
    )

    action("list", "list campaigns", "List the campaigns with their items, reviewers and votes.")


def handle(args) -> int:
    return ACTIONS[args.review_command](args, stdout)


# The review package loads SQLAlchemy (half a second): each action imports what it uses, so `tunewise --help`
# stays quick.


def serve(args, out) -> int:
    import uvicorn

    from tunewise.review.app import create_app

    check_port_free(args.host, args.port)
    app = create_app(args.db)
    console.print(f"review app on http://{args.host}:{args.port} (database {_shown(args.db)}); Ctrl-C stops it")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def create(args, out) -> int:
    from tunewise.review import campaigns
    from tunewise.review.db import transaction
    from tunewise.review.items import items_from_run, load_items

    if args.baseline_run is not None and args.from_run is None:
        raise TunewiseError("--baseline-run goes with --from-run")
    if args.from_run is not None:
        if args.kind != "pairwise":
            raise TunewiseError("--from-run makes a pairwise campaign (base vs tuned): use --kind pairwise")
        items, source = items_from_run(args.from_run, args.baseline_run), str(args.from_run)
    else:
        items, source = load_items(args.items, args.kind), str(args.items)
    if not items:
        raise TunewiseError("no items: every test answer is the same in both systems, nothing to compare")
    rubric = _rubric(args.rubric) if args.rubric else None
    with transaction(args.db) as db:
        campaign = campaigns.create_campaign(db, args.name, args.kind, items, args.per_item, rubric, source)
        kind = campaign.kind
    if args.from_run is not None:  # the run's report says a campaign is ready and how to open it
        atomic_write_json(
            RunDir(args.from_run).review_campaign,
            {
                "name": args.name,
                "kind": kind,
                "items": len(items),
                "per_item": args.per_item,
                "db": _shown(args.db),
                "systems": sorted(items[0]["outputs"]) if items else [],
            },
        )
    out.print(f"campaign '{args.name}': {len(items)} {kind} items, {args.per_item} reviewers per item")
    console.print(f"next: tunewise review invite {args.name} --reviewer NAME{_db_flag(args)}")
    return 0


def invite(args, out) -> int:
    from tunewise.review import auth
    from tunewise.review.db import transaction

    with transaction(args.db, create=False) as db:
        token = auth.invite(db, args.name, args.reviewer, admin=args.admin, days=args.days)
    role = "admin" if args.admin else "reviewer (an earlier --admin invite still counts)"
    console.print(f"{args.reviewer} ({role}) invited to '{args.name}'; the link expires in {args.days:g} days")
    out.print(f"{args.base_url.rstrip('/')}/login?token={token}", soft_wrap=True)
    return 0


def revoke(args, out) -> int:
    from tunewise.review import auth
    from tunewise.review.db import transaction

    with transaction(args.db, create=False) as db:
        count = auth.revoke(db, args.name, args.reviewer)
    out.print(f"revoked {count} login link(s) of {args.reviewer}; their sessions are ended")
    return 0


def show_results(args, out) -> int:
    from tunewise.review.db import sqlite_file, transaction
    from tunewise.review.results import results

    if args.out:
        check_output_file(args.out, [sqlite_file(args.db)])
    with transaction(args.db, create=False) as db:
        found = results(db, args.name)
    if args.out:
        atomic_write_json(args.out, found)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for table in result_tables(found):
        out.print(table)
    if args.out:
        console.print(f"wrote {args.out}")
    return 0


def export(args, out) -> int:
    from tunewise.review.db import sqlite_file, transaction
    from tunewise.review.results import majority_labels, preference_pairs, relabel_patch

    check_output_file(args.preferences or args.patch or args.labels, [sqlite_file(args.db)])
    with transaction(args.db, create=False) as db:
        if args.preferences:
            rows = preference_pairs(db, args.name)
            atomic_write_jsonl(args.preferences, rows)
            out.print(f"wrote {len(rows)} preference pairs to {args.preferences} (ties and both-bad left out)")
        elif args.labels:
            rows, counts = majority_labels(db, args.name, args.min_votes)
            atomic_write_jsonl(args.labels, rows)
            shown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
            out.print(f"wrote {len(rows)} items to {args.labels} ({shown}); add: tunewise curate DATA --add-labelled")
        else:
            rows = relabel_patch(db, args.name, args.min_votes)
            atomic_write_jsonl(args.patch, rows)
            out.print(f"wrote {len(rows)} label changes to {args.patch}; apply: tunewise curate DATA --relabel-patch")
    return 0


def list_campaigns(args, out) -> int:
    from tunewise.review import campaigns
    from tunewise.review.db import transaction

    with transaction(args.db, create=False) as db:
        rows = campaigns.overview(db)
    table = Table(title=f"campaigns in {_shown(args.db)}")
    for column in ("campaign", "kind", "items", "per item", "reviewers", "votes"):
        table.add_column(column, justify="left" if column in ("campaign", "kind") else "right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    out.print(table)
    return 0


def result_tables(found: dict) -> list[Table]:
    """The results as rich tables: the kind's own figures, then one row per reviewer."""
    title = f"{found['campaign']} ({found['kind']}): {found['votes']} votes on {found['items_reviewed']} items"
    tables = []
    if found["kind"] == "pairwise":
        table = Table(title=title)
        for column in (
            "system",
            "wins",
            "losses",
            "ties",
            "both bad",
            "win rate [95 % Wilson]",
            "Bradley-Terry [95 %]",
        ):
            table.add_column(column, justify="left" if column == "system" else "right")
        for system, row in found["win_rates"].items():
            strength = found["bradley_terry"][system]
            table.add_row(
                system,
                str(row["wins"]),
                str(row["losses"]),
                str(row["ties"]),
                str(row["both_bad"]),
                _with_ci(row["win_rate"], row["win_rate_ci"]),
                _with_ci(strength["score"], strength["ci"]),
            )
        tables.append(table)
        tables.append(_agreement_table("agreement on the verdict", found["agreement"]))
    elif found["kind"] == "rating":
        table = Table(title=title)
        for column in ("criterion", "system", "mean [95 %]", "ratings", "alpha"):
            table.add_column(column, justify="left" if column in ("criterion", "system") else "right")
        for criterion, values in found["criteria"].items():
            alpha = values["agreement"]["krippendorff_alpha"]["alpha"]
            for system, mean in values["means"].items():
                table.add_row(criterion, system, _with_ci(mean["mean"], mean["ci"]), str(mean["n"]), _number(alpha))
        tables.append(table)
    else:
        table = Table(title=title)
        table.add_column("figure")
        table.add_column("value", justify="right")
        accepted = found["suggestion_accepted"]
        table.add_row("suggested label taken", _with_ci(accepted["rate"], accepted["ci"]))
        if "label_kept" in found:
            table.add_row("current label kept", _number(found["label_kept"]["rate"]))
        for status, count in found.get("answers", {}).items():
            table.add_row(f"answers: {status.replace('_', ' ')}", str(count))
        tables.append(table)
        tables.append(_agreement_table("agreement on the label", found["agreement"]))
    reviewers = Table(title="reviewers")
    for column in ("reviewer", "votes", "median s", "agreement with others", "shared items"):
        reviewers.add_column(column, justify="left" if column == "reviewer" else "right")
    for row in found["reviewers"]:
        reviewers.add_row(
            row["reviewer"],
            str(row["votes"]),
            _number(row["median_seconds"], 1),
            _number(row["agreement_with_others"]),
            str(row["shared_items"]),
        )
    tables.append(reviewers)
    return tables


def _agreement_table(title: str, agreement: dict) -> Table:
    table = Table(title=title)
    table.add_column("reviewers")
    table.add_column("items", justify="right")
    table.add_column("statistic", justify="right")
    alpha = agreement["krippendorff_alpha"]
    table.add_row("all (Krippendorff's alpha)", str(alpha["items"]), _number(alpha["alpha"]))
    for pair in agreement["cohen_kappa"]:
        table.add_row(" · ".join(pair["raters"]) + " (Cohen's kappa)", str(pair["items"]), _number(pair["kappa"]))
    return table


def _rubric(path: Path) -> list[dict]:
    from tunewise.review import campaigns

    try:
        rubric = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TunewiseError(f"{path}: rubric file not found") from None
    except yaml.YAMLError as exc:
        raise TunewiseError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return campaigns.check_rubric(rubric)
    except TunewiseError as exc:
        raise TunewiseError(f"{path}: {exc}") from None


def _with_ci(value, interval) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _shown(url: str | None) -> str:
    from sqlalchemy.engine import make_url

    from tunewise.review.db import database_url

    return make_url(database_url(url)).render_as_string(hide_password=True)


def _db_flag(args) -> str:
    return f" --db {args.db}" if args.db else ""


ACTIONS = {
    "serve": serve,
    "create": create,
    "invite": invite,
    "revoke": revoke,
    "results": show_results,
    "export": export,
    "list": list_campaigns,
}
