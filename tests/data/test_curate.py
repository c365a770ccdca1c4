"""Curation end to end through the CLI: nothing is lost, the input is untouched, every change has a reason."""

import json

from tests.conftest import TEXTS, classification_rows, write_jsonl
from tunewise.cli import main


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_curate_accounts_for_every_row(tmp_path):
    rows = classification_rows()
    rows.append({"text": rows[0]["text"].upper() + "!", "label": rows[0]["label"]})  # exact duplicate
    rows.append({"text": "   ", "label": "change_pin"})  # empty
    rows.append({"text": "what is the exchange rate", "label": "card_arrival"})  # conflicts with row 12
    data = write_jsonl(tmp_path / "raw.jsonl", rows)
    (tmp_path / "raw.jsonl").open("a").write("{broken json\n")
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": rows[5]["text"], "label": rows[5]["label"]}])
    before = data.read_bytes()
    assert main(["curate", str(data), "--against", str(test), "--out", str(tmp_path / "out")]) == 0
    assert data.read_bytes() == before
    curated = read(tmp_path / "out" / "curated.jsonl")
    changes = read(tmp_path / "out" / "changelog.jsonl")
    total_rows = len(rows) + 1
    dropped_rows = {c["row"] for c in changes if c["action"] == "drop"}
    assert len(curated) + len(dropped_rows) == total_rows
    reasons = {c["row"]: c["reason"] for c in changes}
    assert reasons[len(rows) - 1 - 1] == "empty" and reasons[len(rows)] == "malformed"
    assert reasons[5] == "leakage"
    assert reasons[len(rows) - 3] == "exact_duplicate"
    assert all(c["original"] for c in changes)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["output"]["rows"] == len(curated) and manifest["input"]["rows"] == total_rows
    assert set(curated[0]) == {"text", "label"}


def test_relabel_mode_changes_labels_and_queues_them(tmp_path):
    rows = classification_rows(4)
    rows[3] = {"text": rows[3]["text"], "label": "exchange_rate"}  # a card_arrival query mislabelled
    data = write_jsonl(tmp_path / "raw.jsonl", rows)
    config = tmp_path / "tunewise.yaml"
    config.write_text(
        "curate:\n  label_issues: relabel\n  dedupe_near: false\n  dedupe_semantic: false\n"
        "audit:\n  checks: [label_issue]\n"
    )
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    queue = read(tmp_path / "out" / "relabel_queue.jsonl")
    relabels = [c for c in read(tmp_path / "out" / "changelog.jsonl") if c["action"] == "relabel"]
    assert any(q["id"] == 3 and q["suggested_label"] == "card_arrival" for q in queue)
    assert {"id", "text", "label", "suggested_label", "labels"} == set(queue[0])
    assert any(c["row"] == 3 and c["detail"] == {"from": "exchange_rate", "to": "card_arrival"} for c in relabels)
    curated = read(tmp_path / "out" / "curated.jsonl")
    assert len(curated) == len(rows)
    assert curated[3]["label"] == "card_arrival"


def test_cap_per_class(tmp_path):
    data = write_jsonl(tmp_path / "raw.jsonl", classification_rows())
    config = tmp_path / "tunewise.yaml"
    config.write_text("curate:\n  cap_per_class: 5\naudit:\n  checks: [exact_duplicate]\n")
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    curated = read(tmp_path / "out" / "curated.jsonl")
    assert len(curated) == 15


def test_conflict_majority_compares_normalised_answers_of_rows_still_present(tmp_path):
    rows = [
        {"prompt": "say hi", "completion": "Hello there."},
        {"prompt": "say hi", "completion": "hello there"},
        {"prompt": "say hi", "completion": "Goodbye now"},
    ]
    data = write_jsonl(tmp_path / "raw.jsonl", rows)
    config = tmp_path / "tunewise.yaml"
    config.write_text("audit:\n  checks: [exact_duplicate, conflicting_duplicate]\n")
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    assert [r["completion"] for r in read(tmp_path / "out" / "curated.jsonl")] == ["Hello there."]
    reasons = {c["row"]: c["reason"] for c in read(tmp_path / "out" / "changelog.jsonl")}
    assert reasons == {1: "exact_duplicate", 2: "conflicting_duplicate"}


def test_audit_checks_the_whole_eval_file_even_with_max_rows(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", classification_rows()[:4])
    test = write_jsonl(tmp_path / "test.jsonl", classification_rows()[10:20] + classification_rows()[:1])
    config = tmp_path / "tunewise.yaml"
    config.write_text("data:\n  max_rows: 4\naudit:\n  checks: [leakage]\n")
    assert main(["audit", str(train), "--config", str(config), "--against", str(test)]) == 1


def test_curate_exits_1_when_a_check_crashed(tmp_path, monkeypatch):
    from tunewise.data.audit import CHECKS

    def boom(self, ctx):
        raise RuntimeError("kaput")

    monkeypatch.setattr(CHECKS["leakage"], "run", boom)
    data = write_jsonl(tmp_path / "raw.jsonl", classification_rows())
    config = tmp_path / "tunewise.yaml"
    config.write_text("audit:\n  checks: [leakage, exact_duplicate]\n")
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "out")]) == 1
    assert (tmp_path / "out" / "curated.jsonl").is_file()


def test_curate_can_act_on_a_saved_audit_of_the_same_file_only(tmp_path, capsys):
    rows = classification_rows()
    rows.append({"text": rows[0]["text"].upper() + "!", "label": rows[0]["label"]})
    data = write_jsonl(tmp_path / "raw.jsonl", rows)
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": rows[5]["text"], "label": rows[5]["label"]}])
    findings = tmp_path / "audit.json"
    main(["audit", str(data), "--against", str(test), "--json", str(findings)])
    assert main(["curate", str(data), "--against", str(test), "--out", str(tmp_path / "fresh")]) == 0
    assert (
        main(
            ["curate", str(data), "--against", str(test), "--findings", str(findings), "--out", str(tmp_path / "saved")]
        )
        == 0
    )
    for name in ("curated.jsonl", "changelog.jsonl", "relabel_queue.jsonl"):
        assert (tmp_path / "saved" / name).read_text() == (tmp_path / "fresh" / name).read_text()
    assert (
        json.loads((tmp_path / "saved" / "audit.json").read_text())["sha256"]
        == json.loads(findings.read_text())["sha256"]
    )
    capsys.readouterr()
    write_jsonl(data, rows[:-1])  # the file changed after its audit
    assert main(["curate", str(data), "--findings", str(findings), "--out", str(tmp_path / "stale")]) == 2
    assert "not an audit of" in capsys.readouterr().err and not (tmp_path / "stale").exists()


def test_keep_paraphrases_drops_no_wording_and_caps_redundant_copies_first(tmp_path):
    rows = classification_rows()  # 6 queries per intent, each in 3 wordings ("...", "... please", "... pleaseplease")
    data = write_jsonl(tmp_path / "raw.jsonl", rows)
    config = tmp_path / "tunewise.yaml"
    checks = "audit:\n  checks: [near_duplicate, semantic_duplicate]\n"
    config.write_text(checks)
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "one")]) == 0
    one = read(tmp_path / "one" / "changelog.jsonl")
    assert {c["reason"] for c in one} & {"near_duplicate", "semantic_duplicate"}  # the default: one row per cluster

    config.write_text("curate:\n  duplicates: keep_paraphrases\n" + checks)
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "kept")]) == 0
    assert read(tmp_path / "kept" / "changelog.jsonl") == [] and len(read(tmp_path / "kept" / "curated.jsonl")) == 54

    config.write_text("curate:\n  duplicates: keep_paraphrases\n  cap_per_class: 10\n" + checks)
    assert main(["curate", str(data), "--config", str(config), "--out", str(tmp_path / "capped")]) == 0
    capped = read(tmp_path / "capped" / "changelog.jsonl")
    assert len(capped) == 3 * 8 and {c["reason"] for c in capped} == {"cap_per_class"}
    assert all(c["detail"]["redundant"] in ("near_duplicate", "semantic_duplicate") for c in capped)
    kept = {r["text"] for r in read(tmp_path / "capped" / "curated.jsonl")}
    for texts in TEXTS.values():  # every query keeps at least one of its wordings
        assert all(any(k.startswith(text) for k in kept) for text in texts)


def test_labelled_pool_rows_are_added_audited_and_logged_and_an_unknown_label_names_its_line(tmp_path, capsys):
    rows = classification_rows()
    data = write_jsonl(tmp_path / "raw.jsonl", rows)
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "is my card stolen or lost", "label": "card_lost"}])
    labels = [
        {"id": "3", "text": "my card never came in the post", "label": rows[0]["label"], "status": "labelled"},
        {"id": "4", "text": "is my card stolen or lost", "label": rows[0]["label"], "status": "labelled"},  # test
        {"id": "5", "text": "what's the weather", "label": None, "status": "none_of_these"},
        {"id": "6", "text": "hmm", "label": None, "status": "unclear"},
    ]
    for row in labels:
        row |= {"votes": 2, "agreeing": 2, "agreement": 1.0, "reviewers": ["ann", "bob"]}
    exported = write_jsonl(tmp_path / "labels.jsonl", labels)
    argv = ["curate", str(data), "--against", str(test), "--add-labelled", str(exported), "--out", str(tmp_path / "o")]
    assert main(argv) == 0
    changes = read(tmp_path / "o" / "changelog.jsonl")
    added = [c for c in changes if c["reason"] == "pool_label"]
    assert [c["original"]["text"] for c in added] == ["my card never came in the post"]
    assert added[0]["row"] == len(rows) and added[0]["detail"] | {"file": None} == {
        "file": None,
        "line": 1,
        "id": "3",
        "votes": 2,
        "agreeing": 2,
        "agreement": 1.0,
        "reviewers": ["ann", "bob"],
    }
    assert {"row": len(rows) + 1, "reason": "leakage"} in [{"row": c["row"], "reason": c["reason"]} for c in changes]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["input"]["rows"] == len(rows)
    distinct = manifest["added_labelled"].pop("distinct_inputs")
    assert manifest["added_labelled"] | {"source": None} == {
        "source": None,
        "labelled": 2,
        "added": 1,
        "dropped_by_curation": 1,
        "kept_out": {"none_of_these": 1, "unclear": 1},
    }
    assert "my card never came in the post" in (tmp_path / "o" / "curated.jsonl").read_text()
    curated = read(tmp_path / "o" / "curated.jsonl")
    for label in {r["label"] for r in curated}:  # per label: distinct inputs without and with the added row
        after = len({r["text"].lower() for r in curated if r["label"] == label})
        assert distinct[label] == [after - (label == rows[0]["label"]), after]
    labels[0]["label"] = "card_stolen"
    write_jsonl(exported, labels)
    capsys.readouterr()
    assert main(argv[:-1] + [str(tmp_path / "o2")]) == 2
    error = capsys.readouterr().err.strip()
    assert "labels.jsonl:1: field 'label': 'card_stolen' is not a label of the data" in error and "\n" not in error
    assert not (tmp_path / "o2").exists()
