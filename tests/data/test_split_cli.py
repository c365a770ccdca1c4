import json

from tests.conftest import classification_rows, write_jsonl
from tunewise.cli import main


def test_split_writes_files_and_manifest_and_keeps_near_duplicates_together(tmp_path):
    rows = classification_rows(4)
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert main(["split", str(data), "--out", str(tmp_path / "s"), "--seed", "3"]) == 0
    parts = {
        name: [json.loads(x) for x in (tmp_path / "s" / f"{name}.jsonl").read_text().splitlines()]
        for name in ("train", "validation", "test")
    }
    assert sum(len(p) for p in parts.values()) == len(rows)
    where = {r["text"]: name for name, part in parts.items() for r in part}
    # "where is my new card" and "where is my new card please" are near duplicates: same split.
    for base in ("where is my new card", "how do i change my pin"):
        assert len({where[t] for t in where if t.startswith(base)}) == 1
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert set(manifest["label_counts"]) == {"train", "validation", "test"}
    assert all(len(h) == 64 for h in manifest["outputs"].values())


def test_split_refuses_small_holdouts_unless_forced(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", classification_rows(4))
    assert main(["split", str(data), "--out", str(tmp_path / "s"), "--validation", "0.05"]) == 2
    assert "split.validation=0.05 is below 15%" in capsys.readouterr().err
    assert main(["split", str(data), "--out", str(tmp_path / "s"), "--validation", "0.1", "--force"]) == 0


def test_audit_exit_codes(tmp_path, capsys):
    clean = write_jsonl(tmp_path / "clean.jsonl", classification_rows())
    config = tmp_path / "tunewise.yaml"
    config.write_text("audit:\n  checks: [malformed, empty, exact_duplicate, leakage]\n")
    assert main(["audit", str(clean), "--config", str(config), "--json", str(tmp_path / "a.json")]) == 0
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["rows"] == 54 and report["summary"]["passed"] is True
    dirty = write_jsonl(tmp_path / "dirty.jsonl", classification_rows() + [{"text": "", "label": "change_pin"}])
    assert main(["audit", str(dirty), "--config", str(config)]) == 1
    assert main(["audit", str(tmp_path / "missing.jsonl")]) == 2


def test_audit_warns_when_the_dataset_is_too_small(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", classification_rows())
    config = tmp_path / "tunewise.yaml"
    config.write_text("audit:\n  checks: [exact_duplicate]\n")
    assert main(["audit", str(data), "--config", str(config), "--json", str(tmp_path / "a.json")]) == 0
    assert "54 usable rows; at least 200 rows and 20 per class (3 classes) recommended" in " ".join(
        capsys.readouterr().out.split()
    )
    summary = json.loads((tmp_path / "a.json").read_text())["summary"]
    assert summary["sufficiency"]["enough"] is False and summary["sufficiency"]["recommended_rows"] == 200


def test_out_of_range_fractions_are_usage_errors(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", classification_rows(4))
    assert main(["split", str(data), "--out", str(tmp_path / "s"), "--validation", "1.5"]) == 2
    assert "validation" in capsys.readouterr().err
    assert main(["split", str(data), "--out", str(tmp_path / "s"), "--seed", "-1"]) == 2


def test_near_identical_test_inputs_are_kept_out_of_training(tmp_path):
    from tunewise.data.split import without_test_inputs

    records = [
        {"text": "my card was swallowed by the atm machine today", "label": "a"},
        {"text": "what is the exchange rate", "label": "b"},
    ]
    test = [{"text": "my card was swalowed by the atm machine today", "label": "a"}]
    kept, dropped = without_test_inputs(records, test, "classification")
    assert [r["label"] for r in kept] == ["b"] and [r["label"] for r in dropped] == ["a"]


def test_an_empty_split_from_near_duplicate_grouping_says_so(tmp_path, capsys):
    rows = [
        {"text": f"please tell me about the {w} account balance today", "label": "balance"}
        for w in ("savings", "current", "joint", "business", "student", "travel", "euro", "gold")
    ]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert main(["split", str(data), "--out", str(tmp_path / "s")]) == 2
    assert "8 rows in 1 groups of duplicates/near duplicates" in " ".join(capsys.readouterr().err.split())


def chat(*turns: str) -> dict:
    roles = ["user", "assistant"] * (len(turns) // 2)
    return {"messages": [{"role": role, "content": text} for role, text in zip(roles, turns, strict=True)]}


def test_a_training_chat_that_opens_with_a_test_chat_is_kept_out_turn_by_turn():
    from tunewise.data.split import without_test_inputs

    opens = chat("how do I freeze my card", "Open the app and tap Freeze.", "and unfreeze it?", "Tap it again.")
    other = chat("what is the exchange rate", "It changes daily.", "today?", "1.08")
    test = [chat("how do I freeze my card", "In the app, tap Freeze.")]
    kept, dropped = without_test_inputs([opens, other], test, "chat")
    assert kept == [other] and dropped == [opens]
    # the whole-chat input alone ("how do I freeze my card / Open the app ... / and unfreeze it?") does not match
    assert without_test_inputs([opens], [chat("and unfreeze it?", "Tap it again.")], "chat")[1] == []


def test_a_chat_and_the_longer_chat_it_opens_share_a_split():
    from tunewise.config import TunewiseConfig
    from tunewise.data.split import split_groups, split_indices

    questions = [
        "how do I freeze my card",
        "what is the exchange rate",
        "my transfer has not arrived",
        "can I get a refund",
        "why was I charged twice",
        "where do I change my PIN",
        "is there a fee for ATM cash",
        "top up by bank wire",
        "my phone was stolen",
        "close my account please",
        "which currencies can I hold",
        "verify my identity",
        "the app will not open",
        "a payment I do not know",
        "how long does delivery take",
        "get a virtual card",
        "apple pay does not work",
        "my salary is late",
        "set a spending limit",
        "send money abroad",
    ]
    rows = [chat(question, f"answer {i}") for i, question in enumerate(questions)]
    rows += [chat("where do I change my PIN", "answer 5", "and a follow-up", "yes")]
    cfg = TunewiseConfig.model_validate({"split": {"group_semantic_duplicates": False}})  # the turns alone
    groups = split_groups(cfg, rows, "chat")
    assert groups[5] == groups[20] and len(set(groups)) == 20
    indices = split_indices(rows, "chat", 0.2, 0.2, seed=0, groups=groups)
    assert [name for name, members in indices.items() if 5 in members] == [
        name for name, members in indices.items() if 20 in members
    ]
