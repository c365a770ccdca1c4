"""The files people bring: JSON arrays, Alpaca, ShareGPT (and its preference rows), datasets saved to disk, read as
tunewise's task records; a bad row is one line naming the file, line and field, never a silent drop."""

from __future__ import annotations

import json

import pytest

from tunewise.data.load import load_records
from tunewise.errors import TunewiseError

ALPACA = [
    {"instruction": "Summarise the text.", "input": "The card arrived late.", "output": "Late card."},
    {
        "instruction": "And now in French?",
        "input": "",
        "output": "Carte en retard.",
        "system": "You are terse.",
        "history": [["Summarise: the card arrived late.", "Late card."]],
    },
]
SHAREGPT = [
    {
        "conversations": [
            {"from": "system", "value": "Be kind."},
            {"from": "human", "value": "hi"},
            {"from": "gpt", "value": "Hello!"},
            {"from": "human", "value": "my card is lost"},
            {"from": "gpt", "value": "I can block it."},
        ],
        "source": "logs",
    }
]


def write_array(path, rows):
    path.write_text("[\n" + ",\n".join(json.dumps(row, indent=2) for row in rows) + "\n]\n")
    return path


def test_an_alpaca_json_array_is_read_as_chats_with_history_and_system(tmp_path):
    loaded = load_records(write_array(tmp_path / "alpaca.json", ALPACA))
    assert loaded.task == "chat" and len(loaded.records) == 2
    first, second = (record["messages"] for record in loaded.records)
    assert first == [
        {"role": "user", "content": "Summarise the text.\n\nThe card arrived late."},
        {"role": "assistant", "content": "Late card."},
    ]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user", "assistant"]
    assert second[3]["content"] == "And now in French?"  # an empty input adds nothing


def test_sharegpt_conversations_keep_every_turn_and_extra_columns(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in SHAREGPT))
    (record,) = load_records(path).records
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert record["meta"] == {"source": "logs"}
    role_content = [{"conversations": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]
    path.write_text(json.dumps(role_content[0]) + "\n")
    assert load_records(path).records[0]["messages"][1] == {"role": "assistant", "content": "yo"}


def test_sharegpt_preference_rows_are_the_preference_task(tmp_path):
    row = {
        "conversations": [{"from": "human", "value": "Is my card blocked?"}],
        "chosen": {"from": "gpt", "value": "Let me check that for you."},
        "rejected": {"from": "gpt", "value": "No idea."},
    }
    loaded = load_records(write_array(tmp_path / "pref.json", [row]))
    assert loaded.task == "preference"
    assert {k: loaded.records[0][k] for k in ("prompt", "chosen", "rejected")} == {
        "prompt": "Is my card blocked?",
        "chosen": "Let me check that for you.",
        "rejected": "No idea.",
    }


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ({"from": "function_call", "value": "{}"}, r"conversations\[1\].from.*tool-call role 'function_call'"),
        ({"from": "robot", "value": "beep"}, r"conversations\[1\].from.*unknown role 'robot'"),
        ({"from": "gpt", "value": "  "}, r"conversations\[1\].value.*empty turn"),
    ],
)
def test_a_bad_turn_is_one_error_naming_the_file_line_and_turn(tmp_path, turn, expected):
    rows = [SHAREGPT[0], {"conversations": [{"from": "human", "value": "hi"}, turn]}]
    path = write_array(tmp_path / "bad.json", rows)
    line = path.read_text().splitlines().index("{", 12) + 1  # where the second object starts
    with pytest.raises(TunewiseError, match=rf"bad.json:{line}: field '{expected}"):
        load_records(path)
    skipped = load_records(path, skip_invalid=True)
    assert len(skipped.records) == 1 and len(skipped.problems) == 1  # listed, never dropped silently


def test_a_broken_json_array_names_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"text": "a", "label": "x"},\n  {"text": "b" "label": "y"}\n]\n')
    with pytest.raises(TunewiseError, match=r"broken.json:3: malformed JSON"):
        load_records(path)
    path.write_text('[\n  {"text": "a", "label": "x"}\n  {"text": "b", "label": "y"}\n]\n')
    with pytest.raises(TunewiseError, match=r"broken.json:3: malformed JSON array"):
        load_records(path)


def test_a_dataset_saved_to_disk_is_read_and_another_folder_is_refused(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"text": "lost card", "label": "card_lost"}] * 3).save_to_disk(tmp_path / "saved")
    loaded = load_records(tmp_path / "saved")
    assert loaded.task == "classification" and len(loaded.records) == 3
    (tmp_path / "other").mkdir()
    with pytest.raises(TunewiseError, match="not a dataset saved with datasets' save_to_disk"):
        load_records(tmp_path / "other")
