"""Random data files with random faults through `audit`, `split` and `curate` (hypothesis): the exit code is 0, 1
or 2, never 3; the input is never modified; every input row is accounted for (kept, or logged with its reason);
a refused command leaves no output behind."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise.cli import main

LABELS = ["card_arrival", "change_pin", "exchange_rate"]
WORDS = ["card", "pin", "rate", "where", "is", "my", "new", "euro", "change", "how", "much", "today", "arrive"]

good_row = st.builds(
    lambda words, label: json.dumps({"text": " ".join(words), "label": label}),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8),
    st.sampled_from(LABELS),
)
bad_row = st.sampled_from(
    [
        '{"text": "where is my card", "label": ',  # cut off
        '{"text": "no label here"}',
        '{"label": "change_pin"}',
        '{"text": "", "label": "change_pin"}',
        '{"text": "   ", "label": "change_pin"}',
        '{"text": 42, "label": "change_pin"}',
        '{"text": "two labels", "label": "change_pin", "label": "exchange_rate"}',
        '{"text": "a list label", "label": ["change_pin"]}',
        '["not", "an", "object"]',
        '{"text": "huge", "label": 1' + "0" * 5000 + "}",
        '{"text": "nested", "label": "change_pin", "meta": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"text": "line\u2028separator", "label": "change_pin"}',
        "",  # a blank line is not a row
    ]
)
lines = st.lists(st.one_of(good_row, good_row, good_row, bad_row), min_size=0, max_size=40)


def _rows_in(text: str) -> int:
    return sum(1 for line in text.split("\n") if line.strip())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=lines, invalid_utf8=st.booleans())
def test_random_faulty_files_never_crash_and_lose_nothing(content, invalid_utf8, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("random")
    data = folder / "data.jsonl"
    raw = "\n".join(content).encode("utf-8") + b"\n"
    if invalid_utf8:
        raw += b'{"text": "caf\xe9", "label": "change_pin"}\n'
    data.write_bytes(raw)
    rows = _rows_in(raw.decode("utf-8", "replace"))
    config = folder / "tunewise.yaml"
    config.write_text("data:\n  task: classification\n  skip_invalid: true\n")

    for command in ("audit", "split", "curate"):
        out = folder / f"out-{command}-{uuid.uuid4().hex[:6]}"
        argv = [command, str(data), "--config", str(config)] + ([] if command == "audit" else ["--out", str(out)])
        code = main(argv)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), f"{command} exit {code}: {err}"
        assert "internal error" not in err and "Traceback" not in err
        assert data.read_bytes() == raw  # the input is never modified
        if code == 2:
            assert not out.exists() and err.startswith("error: ")
        elif command == "split":
            manifest = json.loads((out / "manifest.json").read_text())
            assert sum(manifest["sizes"].values()) + len(manifest["skipped"]) == rows
            rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().split("\n") if line]
            assert [f"{r['where']}: {r['reason']}" for r in rejects] == manifest["skipped"]  # with content
        elif command == "curate":
            kept = _rows_in((out / "curated.jsonl").read_text())
            log = (out / "changelog.jsonl").read_text().split("\n")  # not splitlines(): U+2028 is inside rows
            changes = [json.loads(line) for line in log if line]
            dropped = {c["row"] for c in changes if c["action"] == "drop"}
            assert kept + len(dropped) == rows
        shutil.rmtree(out, ignore_errors=True)
    assert sorted(p.name for p in Path(folder).iterdir()) == ["data.jsonl", "tunewise.yaml"]
