"""The two small files `examples/your-data` ships, written from the bundled Banking77 subset (PolyAI, CC BY 4.0;
tunewise/resources/ATTRIBUTION.md): a multi-turn ShareGPT chat file and an Alpaca JSON array, the shapes
LLaMA-Factory and Axolotl users bring. Deterministic: `python examples/your-data/make_examples.py` rewrites them.

    sharegpt_banking.jsonl  500 two-turn chats: the customer asks, the assistant names the intent and asks what
                            else; the customer asks again, the assistant names that intent
    alpaca_banking.json     300 rows: instruction, input (the customer's message), output (its intent, in words)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "tunewise" / "resources" / "banking77_demo_train.jsonl"


def words(label: str) -> str:
    return label.replace("_", " ")


def main() -> None:
    rows = [json.loads(line) for line in SOURCE.read_text().splitlines() if line.strip()]
    rng = random.Random(77)
    chats = []
    for _ in range(500):
        first, second = rng.sample(rows, 2)
        chats.append(
            {
                "conversations": [
                    {"from": "system", "value": "You are a bank's support assistant. Name what the customer needs."},
                    {"from": "human", "value": first["text"]},
                    {"from": "gpt", "value": f"This is about {words(first['label'])}. Is there anything else?"},
                    {"from": "human", "value": second["text"]},
                    {"from": "gpt", "value": f"That one is about {words(second['label'])}."},
                ]
            }
        )
    (HERE / "sharegpt_banking.jsonl").write_text("".join(json.dumps(chat) + "\n" for chat in chats))
    alpaca = [
        {
            "instruction": "Name the intent of this banking customer's message.",
            "input": row["text"],
            "output": words(row["label"]),
        }
        for row in rng.sample(rows, 300)
    ]
    (HERE / "alpaca_banking.json").write_text(json.dumps(alpaca, indent=2) + "\n")


if __name__ == "__main__":
    main()
