"""Rebuild tunewise/resources/banking77_demo_{train,test}.jsonl from the full Banking77 CSVs.

Usage: python scripts/make_demo_subset.py ../shared/datasets/banking77
Takes the first N rows per chosen intent, in file order, so the subset is reproducible.
"""

import csv
import json
import sys
from pathlib import Path

INTENTS = [
    "activate_my_card",
    "age_limit",
    "apple_pay_or_google_pay",
    "card_arrival",
    "card_delivery_estimate",
    "cash_withdrawal_charge",
    "change_pin",
    "declined_card_payment",
    "exchange_rate",
    "lost_or_stolen_card",
    "terminate_account",
    "top_up_failed",
]
PER_INTENT = {"train": 60, "test": 20}


def main(source: Path, target: Path) -> None:
    for split, limit in PER_INTENT.items():
        taken: dict[str, int] = {}
        rows = []
        with open(source / f"{split}.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                label = row["category"]
                if label in INTENTS and taken.get(label, 0) < limit:
                    taken[label] = taken.get(label, 0) + 1
                    rows.append({"text": row["text"], "label": label})
        with open(target / f"banking77_demo_{split}.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(split, len(rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent.parent / "tunewise" / "resources")
