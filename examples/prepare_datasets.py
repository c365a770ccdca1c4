"""Put a downloaded copy of a public data set where the configs and examples read it (../shared/datasets/ beside
the checkout, or --out), in the layout they expect. A developer's machine and CI already have that folder; a user's
clone does not, so this is how `configs/` and `examples/` run anywhere.

Where each comes from (licences in ../shared/datasets/README.md when you have it, else on these pages):
  banking77  BANKING77, CC BY 4.0: https://github.com/PolyAI-LDN/task-specific-datasets (banking_data/train.csv,
             test.csv) or the Hugging Face dataset PolyAI/banking77
  clinc150   CLINC150, CC BY 3.0: https://github.com/clinc/oos-eval (data/data_full.json) or clinc_oos ("plus")
  dialogsum  DialogSum, CC BY-NC-SA 4.0: https://github.com/cylnlp/dialogsum (DialogSum_Data/dialogsum.dev.jsonl,
             dialogsum.test.jsonl) or knkarthick/dialogsum
  hh-rlhf    Anthropic HH-RLHF, MIT: https://github.com/anthropics/hh-rlhf (harmless-base/test.jsonl.gz) or
             Anthropic/hh-rlhf (data_dir harmless-base)

--source is either the authors' file(s) (a file, or the folder holding them) or a folder written by `datasets`'
save_to_disk, e.g. `datasets.load_dataset("PolyAI/banking77").save_to_disk("banking77-hf")` on a machine with
internet access. Nothing is downloaded here. The output folder is written aside and renamed into place, complete
or absent; an existing one is kept unless --force.

Usage: python examples/prepare_datasets.py NAME --source PATH [--out ../shared/datasets] [--force]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT.parent / "shared" / "datasets"


class PrepareError(Exception):
    """A source that is not what NAME needs: one line, exit 2."""


def _hf(source: Path):
    """A DatasetDict saved with save_to_disk, or None when ``source`` is not one."""
    if not (source / "dataset_dict.json").is_file():
        return None
    import datasets

    return datasets.load_from_disk(str(source))


def _label_names(split) -> list[str] | None:
    for name in ("label", "intent"):
        feature = split.features.get(name)
        if feature is not None and hasattr(feature, "names"):
            return feature.names
    return None


def _find(source: Path, *names: str) -> Path:
    """``source`` itself when it is a file, else the first of ``names`` found under it (at any depth)."""
    if source.is_file():
        return source
    for name in names:
        found = sorted(source.rglob(name))
        if found:
            return found[0]
    raise PrepareError(f"{source}: none of {', '.join(names)} found (nor a datasets save_to_disk folder)")


def _folder(source: Path, needs: str) -> None:
    if source.is_file():  # one file cannot be both splits: a test copy of the training rows would leak silently
        raise PrepareError(f"{source}: give the folder that holds {needs}, not one file")


def banking77(source: Path, out: Path) -> dict:
    _folder(source, "train.csv and test.csv")
    hf, counts = _hf(source), {}
    for split in ("train", "test"):
        if hf is not None:
            names = _label_names(hf[split])
            rows = [(r["text"], names[r["label"]] if names else r["label"]) for r in hf[split]]
        else:
            with _find(source, f"{split}.csv").open(newline="", encoding="utf-8") as handle:
                rows = [(r["text"], r["category"]) for r in csv.DictReader(handle)]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([("text", "category"), *rows])
        (out / f"{split}.csv").write_text(buffer.getvalue(), encoding="utf-8")
        counts[f"{split}.csv"] = len(rows)
    return counts


def clinc150(source: Path, out: Path) -> dict:
    hf = _hf(source)
    if hf is None:
        found = json.loads(_find(source, "data_full.json").read_text(encoding="utf-8"))
    else:
        found = {}
        for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
            names = _label_names(hf[split])
            pairs = [[r["text"], names[r["intent"]] if names else r["intent"]] for r in hf[split]]
            found[key] = [p for p in pairs if p[1] != "oos"]
            found[f"oos_{key}"] = [p for p in pairs if p[1] == "oos"]
    (out / "data_full.json").write_text(json.dumps(found), encoding="utf-8")
    return {key: len(rows) for key, rows in found.items()}


def dialogsum(source: Path, out: Path) -> dict:
    _folder(source, "the dev and test files")
    hf = _hf(source)
    if hf is None:
        dev = [json.loads(line) for line in _find(source, "dialogsum.dev.jsonl", "dev.jsonl").open() if line.strip()]
        test = [json.loads(line) for line in _find(source, "dialogsum.test.jsonl", "test.jsonl").open() if line.strip()]
    else:  # one row per (dialogue, summary): the test split's three summaries of a dialogue are three rows
        dev = [{"fname": r["id"], **{k: r[k] for k in ("dialogue", "summary", "topic")}} for r in hf["validation"]]
        grouped: dict[str, dict] = {}
        for r in hf["test"]:
            fname = r["id"].rsplit("_", 1)[0] if r["id"].count("_") > 1 else r["id"]
            row = grouped.setdefault(fname, {"fname": fname, "dialogue": r["dialogue"], "topic": r["topic"]})
            number = sum(key.startswith("summary") for key in row) + 1
            row[f"summary{number}"] = r["summary"]
        test = list(grouped.values())
    for name, rows in (("dev.jsonl", dev), ("test.jsonl", test)):
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (out / name).write_text(text, encoding="utf-8")
    return {"dev.jsonl": len(dev), "test.jsonl": len(test)}


def hh_rlhf(source: Path, out: Path) -> dict:
    hf = _hf(source)
    if hf is None:
        path = _find(source, "test.jsonl.gz", "harmless-base-test.jsonl.gz")
        rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8") if line.strip()]
    else:
        rows = [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in hf["test"]]
    with gzip.open(out / "harmless-base-test.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return {"harmless-base-test.jsonl.gz": len(rows)}


DATASETS = {"banking77": banking77, "clinc150": clinc150, "dialogsum": dialogsum, "hh-rlhf": hh_rlhf}


def prepare(name: str, source: Path, out_root: Path, force: bool = False) -> dict:
    """Write ``out_root/name`` from ``source``, aside and then renamed into place."""
    target = out_root / name
    if target.exists() and not force:
        raise PrepareError(f"{target}: already exists (use --force to replace it)")
    if not source.exists():
        raise PrepareError(f"{source}: no such file or folder")
    out_root.mkdir(parents=True, exist_ok=True)
    partial = out_root / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        counts = DATASETS[name](source, partial)
    except (KeyError, ValueError, OSError, IndexError, TypeError) as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise PrepareError(f"{source}: not a {name} copy this script knows ({type(error).__name__}: {error})") from None
    except PrepareError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=list(DATASETS))
    parser.add_argument("--source", type=Path, required=True, help="the downloaded file or folder")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the data sets live (default {OUT})")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT/NAME")
    args = parser.parse_args(argv)
    try:
        counts = prepare(args.name, args.source, args.out, args.force)
    except PrepareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out / args.name}: " + ", ".join(f"{key} {value}" for key, value in counts.items() if value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
