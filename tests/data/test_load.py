import json

import pytest

from tunewise.data import load_records
from tunewise.errors import TunewiseError


def test_jsonl_csv_parquet_and_datasets_give_the_same_records(tmp_path):
    import datasets
    import pandas as pd

    rows = [
        {"text": "where is my card", "category": "card_arrival", "source": "app"},
        {"text": "new pin, please", "category": "change_pin", "source": "web"},
    ]
    frame = pd.DataFrame(rows)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    sources = [tmp_path / "a.jsonl", tmp_path / "a.csv", tmp_path / "a.parquet", datasets.Dataset.from_list(rows)]
    for source in sources:
        loaded = load_records(source, columns={"label": "category"})
        assert loaded.task == "classification"
        assert loaded.records == [
            {"text": "where is my card", "label": "card_arrival", "meta": {"source": "app"}},
            {"text": "new pin, please", "label": "change_pin", "meta": {"source": "web"}},
        ]


@pytest.mark.parametrize(
    "row, task",
    [
        ({"prompt": "p", "completion": "c"}, "completion"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "chat"),
        ({"prompt": "p", "chosen": "good", "rejected": "bad"}, "preference"),
    ],
)
def test_task_is_inferred_from_trl_style_columns(tmp_path, row, task):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert load_records(path).task == task


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', r"d.jsonl:2: malformed JSON"),
        ('{"text": "a", "label": "x"}\n{"text": "b"}\n', r"d.jsonl:2: field 'label': missing"),
        (
            '{"text": "a", "label": "x"}\n{"text": 5, "label": "y"}\n',
            r"d.jsonl:2: field 'text': expected text, got int",
        ),
        ('{"text": "a", "label": "x"}\n[1, 2]\n', r"d.jsonl:2: expected a JSON object"),
        ('{"text": "a", "label": [1]}\n', r"d.jsonl:1: field 'label': expected a label"),
        ("\n\n", r"d.jsonl: no usable rows"),
        ('{"foo": 1}\n', r"d.jsonl:1: cannot tell the task"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(TunewiseError, match=message):
        load_records(path)


def test_non_utf8_bytes_are_reported_with_their_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a", "label": "x"}\n{"text": "caf\xe9", "label": "x"}\n')
    with pytest.raises(TunewiseError, match=r"d.jsonl:2: not valid UTF-8"):
        load_records(path)
    csv_path = tmp_path / "d.csv"
    csv_path.write_bytes(b"text,label\nok,x\ncaf\xe9,y\n")
    with pytest.raises(TunewiseError, match=r"d.csv:3: not valid UTF-8"):
        load_records(csv_path)


def test_csv_rows_with_missing_or_extra_fields(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nfine,x\nshort\n")
    with pytest.raises(TunewiseError, match=r"d.csv:3: field 'label': missing"):
        load_records(path)
    path.write_text("text,label\nfine,x\na,b,c\n")
    with pytest.raises(TunewiseError, match=r"d.csv:3: 3 fields, header has 2"):
        load_records(path)


def test_skip_invalid_reports_exactly_the_skipped_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\nnot json\n{"text": "b", "label": "y"}\n{"text": "c"}\n')
    loaded = load_records(path, skip_invalid=True)
    assert [r["text"] for r in loaded.records] == ["a", "b"]
    assert len(loaded.skipped) == 2
    assert loaded.skipped[0].startswith(f"{path}:2: malformed JSON")
    assert loaded.skipped[1] == f"{path}:4: field 'label': missing"


def test_label_set_and_integer_labels(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n')
    assert load_records(path, labels=["x", "y"]).records[0]["label"] == "y"
    path.write_text('{"text": "a", "label": "z"}\n')
    with pytest.raises(TunewiseError, match=r"d.jsonl:1: field 'label': unknown label 'z'"):
        load_records(path, labels=["x", "y"])


def test_chat_rows_must_end_with_the_assistant(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(TunewiseError, match=r"field 'messages\[0\].role': the last message must be the assistant"):
        load_records(path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(TunewiseError, match="file not found"):
        load_records(tmp_path / "nope.jsonl")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(TunewiseError, match="unsupported file type"):
        load_records(tmp_path / "d.txt")


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "a", "label": "x"}\n{"text": "b", "n": ' + "9" * 5000 + "}\n", r"d.jsonl:2: unreadable JSON"),
        ('{"text": "a", "label": "x"}\n' + "[" * 100000 + "\n", r"d.jsonl:2: "),
        ('{"text": "a\\ud800", "label": "x"}\n', r"d.jsonl:1: field 'text': invalid unicode"),
        ('{"text": "a", "label": "x", "note": "\\udc00"}\n', r"d.jsonl:1: invalid unicode"),
        ('{"text": "   ", "label": "x"}\n', r"d.jsonl:1: field 'text': empty"),
        ('{"text": "a", "label": ""}\n', r"d.jsonl:1: field 'label': empty"),
    ],
)
def test_hostile_json_values_are_row_errors(tmp_path, content, message):
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(TunewiseError, match=message):
        load_records(path)


def test_unclosed_csv_quote_is_an_error_not_swallowed_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\nhi,"pos\nthere,neg\nyou,pos\n')
    with pytest.raises(TunewiseError, match=r"d.csv:2: malformed CSV"):
        load_records(path)


def test_csv_errors_point_at_the_first_line_of_a_multiline_record(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"two\nlines",x\n"again\nhere",\n')
    with pytest.raises(TunewiseError, match=r"d.csv:4: field 'label': empty"):
        load_records(path)


def test_repeated_csv_header_names_are_rejected(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label,label\nhi,pos,neg\n")
    with pytest.raises(TunewiseError, match=r"d.csv:1: empty or repeated column names"):
        load_records(path)


def test_jsonl_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a", "label": "x"}\n')
    assert load_records(path).records[0]["text"] == "a"


def test_integer_labels_that_are_label_names_are_not_positions(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')
    assert [r["label"] for r in load_records(path, labels=["1", "2", "3"], skip_invalid=True).records] == ["1"]
    assert [r["label"] for r in load_records(path, labels=["neg", "pos"]).records] == ["pos", "neg"]


def test_task_is_inferred_past_a_broken_first_row(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b", "label": "x"}\n')
    with pytest.raises(TunewiseError, match=r"d.jsonl:1: field 'label': missing"):
        load_records(path)
    assert load_records(path, skip_invalid=True).task == "classification"


def test_max_rows_limits_the_rows_read(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"text": "t{i}", "label": "x"}}\n' for i in range(10)))
    assert len(load_records(path, max_rows=4).records) == 4
