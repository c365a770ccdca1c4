"""Bad input and interrupted work (issue 20): inputs are never overwritten, an output set is complete or absent,
every rejected row is visible, and bad input is exit 2, never exit 3. Each test failed on the code before."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.conftest import LABELS, classification_rows, write_jsonl
from tunewise.cli import main


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "intents.jsonl", classification_rows(copies=3))


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_failed_split_leaves_the_previous_split_whole(data, tmp_path, capsys):
    out = tmp_path / "split"
    assert main(["split", str(data), "--out", str(out)]) == 0
    before = _files(out)
    tiny = write_jsonl(tmp_path / "tiny.jsonl", classification_rows(copies=3)[:2])
    assert main(["split", str(tiny), "--out", str(out), "--force"]) == 2
    assert "split is empty" in capsys.readouterr().err
    assert _files(out) == before  # not the new train.jsonl beside the old validation and test files
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize(
    "command",
    [
        ["split", "{data}", "--out", "{folder}"],
        ["curate", "{data}", "--out", "{folder}"],
        ["inject", "{data}", "--out", "{data}"],
        ["audit", "{data}", "--json", "{data}"],
    ],
)
def test_an_output_that_is_or_holds_an_input_is_refused_before_any_work(command, data, capsys):
    before = data.read_bytes()
    argv = [part.format(data=data, folder=data.parent) for part in command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ("input" in err) and err.count("\n") == 1
    assert data.read_bytes() == before


def test_an_output_file_that_is_a_folder_and_a_folder_that_is_a_file_are_refused_first(data, tmp_path, capsys):
    assert main(["inject", str(data), "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert main(["split", str(data), "--out", str(tmp_path / "a_file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


def test_an_older_curation_is_replaced_whole_and_a_folder_of_other_files_is_never_emptied(data, tmp_path, capsys):
    out = tmp_path / "curated"
    assert main(["curate", str(data), "--out", str(out)]) in (0, 1)
    (out / "relabel_queue.jsonl").unlink()  # an older, partial curation of ours: replaced as a whole
    assert main(["curate", str(data), "--out", str(out)]) in (0, 1)
    assert sorted(p.name for p in out.iterdir()) == [
        "audit.json",
        "changelog.jsonl",
        "curated.jsonl",
        "manifest.json",
        "relabel_queue.jsonl",
    ]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's own file")
    capsys.readouterr()
    for command in ("curate", "split"):
        assert main([command, str(data), "--out", str(mine)]) == 2
        assert "holds other files (notes.txt)" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "a user's own file"


def test_the_current_folder_is_never_an_output_folder(data, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    for out in (".", ".."):
        assert main(["split", str(data), "--out", out]) == 2
        err = capsys.readouterr().err
        assert "the current folder or one above it" in err or "holds the input" in err
    assert main(["split", str(data), "--out", "."]) == 2 and list(empty.iterdir()) == []


def test_bad_rows_of_an_evaluation_file_are_named_not_dropped(data, tmp_path, capsys):
    test = tmp_path / "test.jsonl"
    test.write_text('{"text": "where is my new card", "label": "card_arrival"}\n{"text": \n{"label": "x"}\n')
    assert main(["audit", str(data), "--against", str(test)]) in (0, 1)
    err = " ".join(capsys.readouterr().err.split())
    assert f"skipped {test}:2: malformed JSON" in err and "(not checked for leakage)" in err
    assert f"skipped {test}:3: field 'text': missing" in err


def test_jsonl_with_unicode_line_separators_reads_back_what_tunewise_wrote(tmp_path):
    from tunewise._io import atomic_write_jsonl, read_jsonl_objects

    rows = [{"text": "first\u2028line", "label": "a"}, {"text": "next\x85line", "label": "b"}]
    atomic_write_jsonl(tmp_path / "rows.jsonl", rows)
    assert [row for _, row in read_jsonl_objects(tmp_path / "rows.jsonl")] == rows


@pytest.mark.parametrize(
    "yaml_text",
    ["train: &t {epochs: 1}\neval: *t\n", "a: &a [*a]\n", "x: &x [1, 1]\ny: &y [*x, *x]\nz: [*y, *y]\n"],
)
def test_yaml_aliases_are_refused_with_their_line(tmp_path, yaml_text):
    from tunewise.config import load_config
    from tunewise.errors import TunewiseError

    path = tmp_path / "tunewise.yaml"
    path.write_text(yaml_text)
    with pytest.raises(TunewiseError, match=rf"{path}:\d+: invalid YAML \(aliases \(\*name\) are not allowed"):
        load_config(path)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--label-noise", "5"], "5 is not a fraction from 0 to 1"),
        (["--empty", "nan"], "nan is not a rate of 0 or more"),
        (["--exact-duplicate", "-0.1"], "-0.1 is not a rate of 0 or more"),
        (["--skew-keep", "2"], "2 is not a fraction from 0 to 1"),
        (["--starve-classes", "-2"], "-2 is negative"),
        (["--leakage", "0.1"], "--leakage needs --test"),
    ],
)
def test_inject_refuses_rates_that_make_no_sense(options, message, data, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:  # argparse's own usage error: exit 2
        code = main(["inject", str(data), "--out", str(tmp_path / "raw.jsonl"), *options])
        raise SystemExit(code)
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "raw.jsonl").exists()


def test_rows_that_cannot_mean_one_thing_are_rejected_by_line_and_field(tmp_path):
    from tunewise.data.load import load_records
    from tunewise.errors import TunewiseError

    keys = tmp_path / "keys.jsonl"
    keys.write_text('{"text": "a", "label": "x", "label": "y"}\n')
    with pytest.raises(TunewiseError, match=rf"{keys}:1: field 'label': the key appears twice"):
        load_records(keys, task="classification")
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "assistant", "content": "Hello"}]}) + "\n")
    with pytest.raises(TunewiseError, match=rf"{chat}:1: field 'messages': no user message"):
        load_records(chat, task="chat")


def test_an_unknown_column_field_is_a_usage_error(data, capsys):
    assert main(["audit", str(data), "--column", "lable=category"]) == 2
    assert "unknown task field 'lable'" in capsys.readouterr().err


def test_labels_that_differ_only_in_case_or_spaces_are_warned_about(tmp_path, capsys):
    rows = classification_rows(copies=3)
    rows[0]["label"], rows[1]["label"] = "Card_Arrival", "card_arrival "
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert main(["split", str(data), "--out", str(tmp_path / "s")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "labels 'Card_Arrival', 'card_arrival', 'card_arrival ' differ only in case or spaces" in err
    assert "data.label_case: lower" in err
    assert main(["split", str(data), "--out", str(tmp_path / "s"), "--label-case", "lower"]) == 0
    assert "differ only in case" not in capsys.readouterr().err
    written = [
        json.loads(line)["label"]
        for name in ("train", "validation", "test")
        for line in (tmp_path / "s" / f"{name}.jsonl").open()
    ]
    assert sorted(set(written)) == sorted(LABELS) and len(written) == len(rows)


def test_label_case_lower_applies_to_declared_labels_too(tmp_path):
    from tunewise.data.load import load_records
    from tunewise.errors import TunewiseError

    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "where is my card", "label": " Card_Arrival"}])
    loaded = load_records(data, "classification", labels=["CARD_ARRIVAL"], label_case="lower")
    assert loaded.records[0]["label"] == "card_arrival"
    with pytest.raises(TunewiseError, match="unknown label ' Card_Arrival'"):
        load_records(data, "classification", labels=["CARD_ARRIVAL"])
    from tunewise.config import TunewiseConfig
    from tunewise.data.split import class_labels

    cfg = TunewiseConfig.model_validate({"data": {"labels": ["CARD_ARRIVAL", "card_arrival ", "Change_PIN"]}})
    assert class_labels(cfg, {}) == ["CARD_ARRIVAL", "card_arrival ", "Change_PIN"]
    cfg.data.label_case = "lower"  # the classes a head is built with match the folded rows
    assert class_labels(cfg, {}) == ["card_arrival", "change_pin"]


def test_sigterm_is_an_interruption_that_leaves_no_partial_output(data, tmp_path, monkeypatch, capsys):
    import tunewise.data.split as split_module

    real = split_module.atomic_write_jsonl

    def write_then_terminated(path, rows):
        real(path, rows)
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` would, halfway through the output set

    monkeypatch.setattr(split_module, "atomic_write_jsonl", write_then_terminated)
    out = tmp_path / "split"
    try:
        assert main(["split", str(data), "--out", str(out)]) == 143
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["intents.jsonl"]


def test_a_killed_writers_temporaries_are_removed_by_the_next_writer(tmp_path):
    from tunewise._io import HOST, atomic_dir, atomic_write_text

    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    (tmp_path / f".out.jsonl.{HOST}-{dead}.abc.tmp").write_text("half")
    (tmp_path / f".folder.{HOST}-{dead}.xyz.tmp").mkdir()
    alive = tmp_path / f".out.jsonl.{HOST}-{os.getpid()}.def.tmp"  # this process's own: still being written
    alive.write_text("mine")
    elsewhere = tmp_path / f".out.jsonl.another_host-{dead}.ghi.tmp"  # a writer on another machine (shared disk)
    elsewhere.write_text("theirs")
    atomic_write_text(tmp_path / "out.jsonl", "done\n")
    with atomic_dir(tmp_path / "folder") as folder:
        (folder / "a.txt").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, elsewhere.name, "folder", "out.jsonl"])


def test_a_run_folder_that_holds_its_data_is_refused_before_any_work(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    data = write_jsonl(folder / "intents.jsonl", classification_rows(copies=3))
    config = tmp_path / "tunewise.yaml"
    config.write_text(f"data:\n  path: {data}\nmodel:\n  name: no-such-model\n")
    for command in ("run", "select", "learning-curve"):
        assert main([command, str(config), "--out", str(folder)]) == 2
        assert f"holds the input {data}" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert main(["run", str(config), "--out", str(tmp_path / "a_file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda f: f.update(findings="none"), "findings: missing or not a list"),
        (lambda f: f["findings"][0].update(check="made_up"), "findings[0].check: not a finding of a known check"),
        (lambda f: f["findings"][2].update(rows=[10**6]), "findings[2].rows: 1000000 is not a row of the data"),
        (lambda f: f["findings"][2]["detail"].update(members=[["x"]]), "detail.members: 'x' is not a row"),
        (lambda f: f["findings"][2]["detail"].update(members=5), "detail.members: not a list of clusters"),
        (lambda f: f["findings"][0].update(check=["empty"]), "findings[0].check: not a finding of a known check"),
        (lambda f: f["findings"][6]["detail"].update(suggestions=[{"row": 10**6}]), "suggestions.row: 1000000"),
        (
            lambda f: f["findings"][6]["detail"].update(
                suggestions=[{"row": 0, "text": "x", "label": "card_arrival", "suggested_label": "bogus"}]
            ),
            "row 0: its suggested_label, label or text is not the data's",
        ),
    ],
)
def test_a_tampered_saved_audit_is_refused_by_field(tamper, message, data, tmp_path, capsys):
    findings = tmp_path / "findings.json"
    assert main(["audit", str(data), "--json", str(findings)]) in (0, 1)
    saved = json.loads(findings.read_text())
    assert saved["findings"][2]["check"] == "exact_duplicate" and saved["findings"][6]["check"] == "label_issue"
    tamper(saved)
    findings.write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["curate", str(data), "--findings", str(findings), "--out", str(tmp_path / "cur")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "cur").exists()


def test_a_lenient_split_writes_every_skipped_row_with_its_content_to_a_rejects_file(tmp_path, capsys):
    rows = classification_rows(copies=3)
    data = tmp_path / "d.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines[4], lines[9] = '{"text": "no label here"}', '{"text": '
    data.write_text("\n".join(lines) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  skip_invalid: true\n")
    out = tmp_path / "split"
    assert main(["split", str(data), "--config", str(config), "--out", str(out)]) == 0
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").open()]
    assert [(r["row"], r["field"]) for r in rejects] == [(4, "label"), (9, None)]
    assert rejects[0]["raw"] == {"text": "no label here"} and rejects[0]["source"] == str(data)
    assert f"skipped {data}:5: field 'label': missing" in " ".join(capsys.readouterr().err.split())
    kept = sum(len((out / f"{name}.jsonl").read_text().splitlines()) for name in ("train", "validation", "test"))
    assert kept + len(rejects) == len(rows)
