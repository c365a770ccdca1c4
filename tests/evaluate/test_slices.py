from tunewise.evaluate.slices import slice_fields, slice_metrics

ROWS = [
    {"text": f"q{i}", "label": "a" if i < 6 else "b", "meta": {"channel": "app" if i % 2 else "web", "id": i}}
    for i in range(10)
]


def test_default_fields_are_the_label_and_small_metadata_fields():
    # "id" has a value per row: an identifier, not a slice.
    assert slice_fields(ROWS, "classification", None) == ["label", "channel"]
    assert slice_fields(ROWS, "completion", None) == ["channel"]
    assert slice_fields(ROWS, "classification", ["id"]) == ["id"]


def test_slices_are_sorted_worst_first_with_intervals():
    scores = [1.0] * 6 + [0.0, 1.0, 0.0, 0.0]  # label b: 1 of 4 right
    found = slice_metrics(ROWS, scores, ["label", "channel"])
    assert (found[0]["field"], found[0]["value"], found[0]["n"], found[0]["score"]) == ("label", "b", 4, 0.25)
    assert [s["score"] for s in found] == sorted(s["score"] for s in found)
    assert all(s["ci"][0] <= s["score"] <= s["ci"][1] for s in found)
    assert sum(s["n"] for s in found if s["field"] == "channel") == 10


def test_missing_metadata_is_its_own_slice():
    rows = [{"text": "x", "label": "a", "meta": {}}, {"text": "y", "label": "a", "meta": {"channel": "app"}}]
    values = {s["value"] for s in slice_metrics(rows, [1.0, 0.0], ["channel"])}
    assert values == {"(missing)", "app"}
