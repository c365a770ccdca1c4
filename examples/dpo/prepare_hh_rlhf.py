"""Turn Anthropic HH-RLHF dialogues into tunewise preference rows (prompt, chosen, rejected).

Each HH-RLHF pair is two whole dialogues that share every turn but the last assistant answer. The prompt is
the shared dialogue up to and including the last human turn; chosen and rejected are the two last answers.
Pairs whose dialogues differ before the last answer are skipped and counted.

Usage: python examples/dpo/prepare_hh_rlhf.py OUT.jsonl [--rows 800] [--source ../shared/datasets/hh-rlhf/...]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "datasets" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
ASSISTANT = "\n\nAssistant:"


def split_pair(chosen: str, rejected: str) -> dict | None:
    """{prompt, chosen, rejected} from two dialogues, or None when they differ before the last answer."""
    cut = chosen.rfind(ASSISTANT)
    prefix = chosen[: cut + len(ASSISTANT)]
    if cut < 0 or not rejected.startswith(prefix):
        return None
    answers = chosen[len(prefix) :].strip(), rejected[len(prefix) :].strip()
    if not all(answers) or answers[0] == answers[1]:
        return None
    prompt = chosen[:cut].strip().replace("\n\nHuman:", "\nHuman:").replace("\n\nAssistant:", "\nAssistant:")
    return {"prompt": prompt, "chosen": answers[0], "rejected": answers[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=800)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with gzip.open(args.source, "rt", encoding="utf-8") as handle:
        pairs = [json.loads(line) for line in handle]
    rows = [row for pair in pairs if (row := split_pair(pair["chosen"], pair["rejected"]))]
    print(f"{len(pairs)} pairs in {args.source.name}; {len(pairs) - len(rows)} skipped (differ before the last answer)")
    random.Random(args.seed).shuffle(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows[: args.rows]), encoding="utf-8")
    print(f"wrote {min(args.rows, len(rows))} rows to {args.out}")


if __name__ == "__main__":
    main()
