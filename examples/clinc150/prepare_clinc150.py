"""Turn CLINC150 (Larson et al., 2019; CC BY 3.0) into tunewise classification files: the 150 in-scope intents,
its official train (15,000 rows: 100 per intent) and test (4,500 rows: 30 per intent) splits. The out-of-scope
queries and the official validation split are left out (tunewise draws its own validation rows from train).

Usage: python examples/clinc150/prepare_clinc150.py [OUT_FOLDER] [--source ../shared/datasets/clinc150/data_full.json]
Writes OUT_FOLDER/train.jsonl and OUT_FOLDER/test.jsonl (default examples/clinc150/data/).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "datasets" / "clinc150" / "data_full.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path(__file__).resolve().parent / "data")
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    found = json.loads(args.source.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        rows = [{"text": text, "label": intent} for text, intent in found[split]]
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (args.out / f"{split}.jsonl").write_text(lines, encoding="utf-8")
        print(f"{args.out / f'{split}.jsonl'}: {len(rows)} rows, {len({r['label'] for r in rows})} intents")


if __name__ == "__main__":
    main()
