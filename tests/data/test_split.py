from collections import Counter

from tunewise.data.split import split_indices


def rows(n_per_label=40, labels=("a", "b", "c")):
    return [{"text": f"query {label} number {i}", "label": label} for label in labels for i in range(n_per_label)]


def test_same_seed_same_split_other_seed_other_split():
    data = rows()
    first = split_indices(data, "classification", 0.15, 0.15, seed=1)
    assert first == split_indices(data, "classification", 0.15, 0.15, seed=1)
    assert first != split_indices(data, "classification", 0.15, 0.15, seed=2)


def test_every_row_in_exactly_one_split_and_strata_kept():
    data = rows()
    split = split_indices(data, "classification", 0.15, 0.15, seed=0)
    every = sorted(i for part in split.values() for i in part)
    assert every == list(range(len(data)))
    for name, expected in (("validation", 6), ("test", 6)):
        assert Counter(data[i]["label"] for i in split[name]) == {"a": expected, "b": expected, "c": expected}


def test_duplicates_after_normalisation_never_straddle_splits():
    data = rows()
    data += [{"text": r["text"].upper() + "!!", "label": r["label"]} for r in data[:30]]
    split = split_indices(data, "classification", 0.2, 0.2, seed=3)
    where = {i: name for name, part in split.items() for i in part}
    for i in range(30):
        assert where[i] == where[len(data) - 30 + i]


def test_tiny_classes_stay_in_training():
    data = rows(40) + [{"text": "rare one", "label": "rare"}, {"text": "rare two", "label": "rare"}]
    split = split_indices(data, "classification", 0.15, 0.15, seed=0)
    assert {data[i]["label"] for i in split["train"]} >= {"rare"}
    assert "rare" not in {data[i]["label"] for i in split["validation"] + split["test"]}


def test_generation_tasks_split_by_prompt():
    data = [{"prompt": f"dialogue {i}", "completion": f"summary {i}"} for i in range(100)]
    split = split_indices(data, "completion", 0.15, 0.1, seed=0)
    assert {k: len(v) for k, v in split.items()} == {"train": 75, "validation": 15, "test": 10}


def test_many_skipped_rows_print_a_few_and_a_count(monkeypatch, tmp_path):
    from rich.console import Console

    import tunewise._progress as progress
    from tunewise.data.load import report_skipped

    shown = Console(record=True, width=200)
    monkeypatch.setattr(progress, "console", shown)
    report_skipped(
        [f"data.jsonl:{n}: field 'text': empty" for n in range(1, 9)], f"all listed in {tmp_path / 'm.json'}"
    )
    printed = shown.export_text()
    assert "data.jsonl:5: field 'text': empty" in printed and "data.jsonl:6:" not in printed
    assert f"3 more rows (all listed in {tmp_path / 'm.json'})" in printed
