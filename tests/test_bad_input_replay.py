"""The bad inputs of issue 20, replayed as a demanding new user would try them (the issue's nine failure classes
plus the basics it found sound), through the CLI as a user runs it. Each case says which exit codes are right;
every case is also held to what holds for all of them: never exit 3 (a bug), never a traceback, an error that
ends in a one-line `error:`, no file that was there before changed or removed, no temporary left behind."""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import classification_rows
from tunewise.cli import main

ROWS = classification_rows(copies=3)  # 54 rows: the bad row of a case is line 55
GOOD = "".join(json.dumps(row) + "\n" for row in ROWS)
CONFIG = "name: t\ndata:\n  path: data.jsonl\nmodel:\n  name: smollm2-135m\n"
OK, FINDINGS, USAGE = 0, 1, 2


@dataclass
class Case:
    argv: str  # {d}: the case's folder
    codes: tuple[int, ...] = (USAGE,)
    says: str = ""  # a fragment of what stderr must say
    files: dict[str, str | bytes] = field(default_factory=lambda: {"data.jsonl": GOOD})
    setup: list[str] = field(default_factory=list)  # commands run first; each must end in 0 or 1
    prepare: Callable[[Path], object] | None = None  # anything else first; what it returns is kept alive
    absent: tuple[str, ...] = ()  # paths that must not exist afterwards


def _with_row(row: str) -> dict[str, str]:
    return {"data.jsonl": GOOD + row + "\n"}


def _tamper_findings(folder: Path) -> None:
    audit = json.loads((folder / "audit.json").read_text())
    for finding in audit["findings"]:
        finding["rows"] = [10**6]
    (folder / "audit.json").write_text(json.dumps(audit))


def _occupy_port(folder: Path) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    (folder / "port").write_text(str(listener.getsockname()[1]))
    return listener


def _relabel_items() -> str:
    item = {"id": "1", "text": "t", "label": "a", "suggested_label": "b", "labels": ["a", "b"], "meta": {}}
    return json.dumps(item) + "\n"


REVIEW_DB = "--db sqlite:///{d}/review.db"
CREATE = f"review create c --kind relabel --items {{d}}/items.jsonl {REVIEW_DB}"

CASES: dict[str, Case] = {
    # data files: every fault named by file, line and field
    "malformed JSON line": Case(
        "audit {d}/data.jsonl", codes=(FINDINGS,), says="line 55", files=_with_row('{"text": "x",')
    ),
    "missing label": Case("split {d}/data.jsonl --out {d}/s", says="field 'label'", files=_with_row('{"text": "x"}')),
    "label is a list": Case(
        "audit {d}/data.jsonl", codes=(FINDINGS,), says="line 55", files=_with_row('{"text": "x", "label": [1]}')
    ),
    "text is an object": Case(
        "audit {d}/data.jsonl", codes=(FINDINGS,), says="line 55", files=_with_row('{"text": {}, "label": "a"}')
    ),
    "NaN value": Case(
        "audit {d}/data.jsonl", codes=(FINDINGS,), says="line 55", files=_with_row('{"text": NaN, "label": "a"}')
    ),
    "a JSON array line": Case("audit {d}/data.jsonl", codes=(FINDINGS,), says="line 55", files=_with_row("[1, 2]")),
    "duplicate keys": Case(
        "audit {d}/data.jsonl",
        codes=(FINDINGS,),
        says="line 55",
        files=_with_row('{"text": "a", "label": "b", "label": "c"}'),
    ),
    "deep nesting": Case(
        "audit {d}/data.jsonl",
        codes=(FINDINGS,),
        says="line 55",
        files=_with_row('{"text": "a", "label": "b", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ),
    "a 5 MB line": Case(
        "audit {d}/data.jsonl",
        codes=(OK, FINDINGS, USAGE),
        files=_with_row(json.dumps({"text": "card " * 1_000_000, "label": "change_pin"})),
    ),
    "empty file": Case("split {d}/data.jsonl --out {d}/s", says="data.jsonl", files={"data.jsonl": ""}),
    "blank lines only": Case("audit {d}/data.jsonl", says="data.jsonl", files={"data.jsonl": "\n\n\n"}),
    "byte order mark": Case("audit {d}/data.jsonl", codes=(OK, FINDINGS), files={"data.jsonl": "\ufeff" + GOOD}),
    "not UTF-8": Case(
        "audit {d}/data.jsonl",
        codes=(FINDINGS,),
        says="line 55",
        files={"data.jsonl": GOOD.encode() + b'{"text": "caf\xe9", "label": "a"}\n'},
    ),
    "binary garbage": Case("audit {d}/data.jsonl", says="data.jsonl", files={"data.jsonl": bytes(range(256)) * 4}),
    "CSV without the label column": Case(
        "audit {d}/data.csv", says="label", files={"data.csv": "text,category\nwhere is my card,card_arrival\n"}
    ),
    "CSV with a ragged row": Case(
        "audit {d}/data.csv", codes=(FINDINGS,), says="data.csv", files={"data.csv": "text,label\na,b\nc,d,e,f\n"}
    ),
    "CSV mapped with --column": Case(
        "audit {d}/data.csv --column label=category",
        codes=(OK, FINDINGS),
        files={"data.csv": "text,category\n" + "".join(f'"{r["text"]}",{r["label"]}\n' for r in ROWS)},
    ),
    "unknown --column field": Case("audit {d}/data.jsonl --column lable=category", says="lable"),
    "Parquet that is not Parquet": Case(
        "audit {d}/data.parquet", says="data.parquet", files={"data.parquet": b"not parquet at all"}
    ),
    "unknown file type": Case("audit {d}/data.txt", says="data.txt", files={"data.txt": GOOD}),
    "missing data file": Case("audit {d}/nope.jsonl", says="nope.jsonl"),
    "a folder as data": Case("audit {d}", says="folder"),
    "chat row with only an assistant message": Case(
        "audit {d}/data.jsonl --task chat",
        says="no user message",
        files={"data.jsonl": json.dumps({"messages": [{"role": "assistant", "content": "Hello"}]}) + "\n"},
    ),
    "preference row without rejected": Case(
        "audit {d}/data.jsonl --task preference",
        says="rejected",
        files={"data.jsonl": json.dumps({"prompt": "p", "chosen": "c"}) + "\n"},
    ),
    "completion that is a list": Case(
        "audit {d}/data.jsonl --task completion",
        says="completion",
        files={"data.jsonl": json.dumps({"prompt": "p", "completion": ["c"]}) + "\n"},
    ),
    "labels differing only in case": Case(
        "split {d}/data.jsonl --out {d}/s",
        codes=(OK, FINDINGS),
        says="differ only in case",
        files=_with_row('{"text": "my card is late", "label": "Card_Arrival "}'),
    ),
    # configs
    "config: unknown key": Case("run {d}/tw.yaml", says="trian", files={"tw.yaml": CONFIG + "trian:\n  epochs: 1\n"}),
    "config: wrong type": Case(
        "run {d}/tw.yaml", says="train.epochs", files={"tw.yaml": CONFIG + "train:\n  epochs: many\n"}
    ),
    "config: several errors at once": Case(
        "run {d}/tw.yaml", says="trian", files={"tw.yaml": CONFIG + "trian: 1\ntrain:\n  epochs: many\n"}
    ),
    "config: broken YAML": Case("run {d}/tw.yaml", says="tw.yaml:", files={"tw.yaml": "train: [1,\n"}),
    "config: not a mapping": Case("run {d}/tw.yaml", says="tw.yaml", files={"tw.yaml": "- a\n- b\n"}),
    "config: missing file": Case("run {d}/nope.yaml", says="nope.yaml"),
    "config: unknown model": Case(
        "run {d}/tw.yaml",
        says="no-such-model",
        files={"tw.yaml": CONFIG.replace("smollm2-135m", "no-such-model"), "data.jsonl": GOOD},
    ),
    "override: unknown key": Case("run {d}/tw.yaml trian.epochs=2", says="trian", files={"tw.yaml": CONFIG}),
    "override: bad value": Case("run {d}/tw.yaml train.epochs=abc", says="train.epochs", files={"tw.yaml": CONFIG}),
    "YAML recursive alias": Case("run {d}/tw.yaml", says="aliases", files={"tw.yaml": "a: &a [*a]\n"}),
    "YAML alias fan-out": Case(
        "run {d}/tw.yaml", says="aliases", files={"tw.yaml": "x: &x [1, 1]\ny: &y [*x, *x]\nz: [*y, *y]\n"}
    ),
    # outputs: an input is never overwritten, an earlier output never left mixed
    "split fails into an earlier split": Case(
        "split {d}/tiny.jsonl --out {d}/s --force",
        says="empty",
        files={"data.jsonl": GOOD, "tiny.jsonl": "".join(GOOD.splitlines(True)[:2])},
        setup=["split {d}/data.jsonl --out {d}/s"],
    ),
    "curate into the folder of its input": Case(
        "curate {d}/cur/curated.jsonl --out {d}/cur", says="input", setup=["curate {d}/data.jsonl --out {d}/cur"]
    ),
    "split into the folder of its input": Case("split {d}/data.jsonl --out {d}", says="input"),
    "inject over its input": Case("inject {d}/data.jsonl --out {d}/data.jsonl", says="input"),
    "audit --json over its input": Case("audit {d}/data.jsonl --json {d}/data.jsonl", says="input"),
    "audit --html over its input": Case("audit {d}/data.jsonl --html {d}/data.jsonl", says="input"),
    "split --out an existing file": Case(
        "split {d}/data.jsonl --out {d}/other.txt", says="is a file", files={"data.jsonl": GOOD, "other.txt": "keep me"}
    ),
    "inject --out an existing folder": Case(
        "inject {d}/data.jsonl --out {d}/s", says="is a folder", setup=["split {d}/data.jsonl --out {d}/s"]
    ),
    "audit --json into a folder": Case(
        "audit {d}/data.jsonl --json {d}/s", says="is a folder", setup=["split {d}/data.jsonl --out {d}/s"]
    ),
    "curate into a folder of other files": Case(
        "curate {d}/data.jsonl --out {d}/s", says="other files", setup=["split {d}/data.jsonl --out {d}/s"]
    ),
    "tampered saved audit": Case(
        "curate {d}/data.jsonl --findings {d}/audit.json --out {d}/cur",
        says="audit.json",
        setup=["audit {d}/data.jsonl --json {d}/audit.json"],
        prepare=_tamper_findings,
    ),
    "saved audit that is not JSON": Case(
        "curate {d}/data.jsonl --findings {d}/audit.json --out {d}/cur",
        says="audit.json",
        files={"data.jsonl": GOOD, "audit.json": "not json"},
    ),
    "bad rows in an --against file": Case(
        "audit {d}/data.jsonl --against {d}/test.jsonl",
        codes=(OK, FINDINGS),
        says="skipped",
        files={
            "data.jsonl": GOOD,
            "test.jsonl": '{"text": "where is my new card", "label": "card_arrival"}\n{"text": \n{"label": "x"}\n',
        },
    ),
    "rows with Unicode line separators, written and read back": Case(
        "split {d}/cur/curated.jsonl --out {d}/s",
        codes=(OK, FINDINGS),
        files=_with_row(json.dumps({"text": "first\u2028line\x85end", "label": "change_pin"}, ensure_ascii=False)),
        setup=["curate {d}/data.jsonl --out {d}/cur"],
    ),
    # inject
    "inject --label-noise 5": Case(
        "inject {d}/data.jsonl --out {d}/raw.jsonl --label-noise 5", says="fraction", absent=("raw.jsonl",)
    ),
    "inject --empty nan": Case(
        "inject {d}/data.jsonl --out {d}/raw.jsonl --empty nan", says="nan", absent=("raw.jsonl",)
    ),
    "inject a negative rate": Case(
        "inject {d}/data.jsonl --out {d}/raw.jsonl --exact-duplicate -0.1", says="-0.1", absent=("raw.jsonl",)
    ),
    "inject --leakage without --test": Case(
        "inject {d}/data.jsonl --out {d}/raw.jsonl --leakage 0.1", says="--test", absent=("raw.jsonl",)
    ),
    "inject an empty file": Case(
        "inject {d}/data.jsonl --out {d}/raw.jsonl", says="data.jsonl", files={"data.jsonl": ""}, absent=("raw.jsonl",)
    ),
    # review
    "review invite --days 1e9": Case(
        "review invite c --reviewer ann --days 1e9 " + REVIEW_DB,
        says="--days",
        files={"items.jsonl": _relabel_items()},
        setup=[CREATE],
    ),
    "review serve on a port in use": Case(
        "review serve --port $(cat {d}/port) " + REVIEW_DB, says="port", files={}, prepare=_occupy_port
    ),
    "review list on a missing database": Case(
        "review list --db {d}/missing/review.db", says="review.db", files={}, absent=("missing",)
    ),
    "review create from malformed items": Case(
        CREATE, says="items.jsonl:2", files={"items.jsonl": _relabel_items() + "{oops\n"}
    ),
    "review create from an item without labels": Case(
        CREATE, says="labels", files={"items.jsonl": _relabel_items().replace('"labels"', '"labelz"')}
    ),
    "review create a campaign twice": Case(
        CREATE, says="exists", files={"items.jsonl": _relabel_items()}, setup=[CREATE]
    ),
    "review results of an unknown campaign": Case(
        "review results nope " + REVIEW_DB,
        says="unknown campaign",
        files={"items.jsonl": _relabel_items()},
        setup=[CREATE],
    ),
    # commands on a run directory that is not one
    "eval on a folder that is not a run": Case("eval {d}/s", says="s", setup=["split {d}/data.jsonl --out {d}/s"]),
    "predict with a missing run": Case(
        "predict {d}/nope {d}/data.jsonl --out {d}/p.jsonl", says="nope", absent=("p.jsonl",)
    ),
    "export a missing run": Case("export {d}/nope --out {d}/e", says="nope", absent=("e",)),
    "serve a missing run": Case("serve {d}/nope", says="nope"),
    "report on a folder that is not a run": Case("report {d}/s", says="s", setup=["split {d}/data.jsonl --out {d}/s"]),
    "compare with a missing baseline": Case("compare {d}/nope --baseline {d}/nope2", says="nope"),
    "learning-curve with a bad fraction": Case(
        "learning-curve {d}/tw.yaml --fractions 0 1.5", says="fraction", files={"tw.yaml": CONFIG, "data.jsonl": GOOD}
    ),
}


def _argv(command: str, folder: Path) -> list[str]:
    text = command.format(d=folder)
    if "$(cat " in text:  # the one case that needs a value only known at run time
        port_file = text.split("$(cat ", 1)[1].split(")", 1)[0]
        text = text.replace(f"$(cat {port_file})", Path(port_file).read_text())
    return shlex.split(text)


def _invoke(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as stopped:  # argparse's own usage errors
        code = stopped.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_a_clear_error_that_changes_nothing(name, tmp_path, capsys):
    case = CASES[name]
    for file_name, content in case.files.items():
        path = tmp_path / file_name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    for command in case.setup:
        assert _invoke(_argv(command, tmp_path), capsys)[0] in (OK, FINDINGS), command
    kept_alive = case.prepare(tmp_path) if case.prepare else None
    before = _files(tmp_path)
    code, out, err = _invoke(_argv(case.argv, tmp_path), capsys)
    del kept_alive
    assert code in case.codes, f"exit {code}: {err[-800:]}"
    assert "Traceback" not in err and "internal error" not in err, err[-800:]
    if code == USAGE:
        assert "error:" in err.strip().splitlines()[-1], err[-800:]
    assert case.says in " ".join((out + err).split()), (out + err)[-1500:]  # a finding is told on stdout
    after = _files(tmp_path)
    assert {path: after.get(path) for path in before} == before, "a file that was there was changed or removed"
    assert not [p.name for p in tmp_path.rglob(".*")], "a temporary was left behind"
    assert not [name for name in case.absent if (tmp_path / name).exists()]
