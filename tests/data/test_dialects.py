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


GOOD_ROW = {
    "alpaca": {"instruction": "a", "input": "", "output": "b"},
    "preference": {
        "conversations": [{"from": "human", "value": "q"}],
        "chosen": {"from": "gpt", "value": "a"},
        "rejected": {"from": "gpt", "value": "b"},
    },
    "messages": {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
}
HI, OK = {"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}


@pytest.mark.parametrize(
    ("kind", "row", "expected"),
    [
        ("alpaca", {"instruction": "a", "input": "x"}, "field 'output': missing or empty (must be text) (alpaca row)"),
        ("alpaca", {"instruction": 5, "output": "y"}, "field 'instruction': missing or empty (must be text)"),
        ("alpaca", {"instruction": "a", "output": "  "}, "field 'output': missing or empty"),
        ("alpaca", {"instruction": "a", "output": "b", "history": [["one"]]}, "field 'history[0]': must be a"),
        (
            "preference",
            {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"}},
            "field 'rejected': expected a {from, value} turn (sharegpt_preference row)",
        ),
        (
            "preference",
            {
                "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
                "chosen": {"from": "gpt", "value": "a"},
                "rejected": {"from": "gpt", "value": "b"},
            },
            "field 'conversations': a preference row's prompt must be one user turn",
        ),
        (
            "messages",
            {"messages": [HI, {"role": "tool", "content": "{}"}, OK]},
            "field 'messages[1].role': the tool-call role 'tool' is not supported (remove the row)",
        ),
        (
            "messages",
            {"messages": [HI, {"role": "robot", "content": "beep"}, OK]},
            "field 'messages[1].role': unknown role 'robot' (known: system, user, assistant)",
        ),
        (
            "messages",
            {"messages": [HI, {"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]}, OK]},
            "field 'messages[1].role': a tool call is not supported (remove the row)",
        ),
        (
            "messages",
            {"messages": [HI, OK], "tools": [{"name": "get_balance"}]},
            "field 'tools': tool definitions: tool-call training is not supported (remove the column)",
        ),
    ],
)
def test_a_bad_row_of_each_format_is_one_error_naming_the_file_line_and_field(tmp_path, kind, row, expected):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD_ROW[kind]) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(TunewiseError) as bad:
        load_records(path)
    assert str(bad.value).startswith(f"{path}:2: {expected}")
    assert "\n" not in str(bad.value)
    skipped = load_records(path, skip_invalid=True)
    assert len(skipped.records) == 1 and len(skipped.problems) == 1  # listed, never dropped silently


@pytest.mark.parametrize("kind", ["parquet", "saved"])
def test_a_bad_row_of_a_parquet_file_or_a_saved_dataset_names_its_row(tmp_path, kind):
    import datasets

    rows = datasets.Dataset.from_list([{"text": "lost card", "label": "card_lost"}, {"text": "  ", "label": "x"}])
    path = tmp_path / ("rows.parquet" if kind == "parquet" else "saved")
    rows.to_parquet(str(path)) if kind == "parquet" else rows.save_to_disk(str(path))
    with pytest.raises(TunewiseError, match=rf"^{path}:row 2: field 'text': empty$"):
        load_records(path)
