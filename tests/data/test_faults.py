from collections import Counter

from tests.conftest import classification_rows
from tunewise.data.faults import FaultRates, inject
from tunewise.data.formats import normalize


def test_injection_records_the_truth_and_leaves_the_input_alone():
    clean = classification_rows()
    before = [dict(r) for r in clean]
    test = [{"text": f"held out {i}", "label": "change_pin"} for i in range(10)]
    rows, truth = inject(
        clean,
        "classification",
        FaultRates(exact_duplicate=0.1, near_duplicate=0.1, label_noise=0.1, empty=0.05, leakage=0.1),
        seed=3,
        test_records=test,
    )
    assert clean == before
    assert {k: len(v) for k, v in truth.items()} == {
        "exact_duplicate": 5,
        "near_duplicate": 5,
        "label_noise": 5,
        "empty": 3,
        "leakage": 5,
    }
    originals = {normalize(r["text"]) for r in clean}
    assert all(normalize(rows[i]["text"]) in originals for i in truth["exact_duplicate"])
    assert all(normalize(rows[i]["text"]) not in originals for i in truth["near_duplicate"])
    assert all(not rows[i]["text"].strip() for i in truth["empty"])
    assert all(rows[i]["text"].startswith("held out") for i in truth["leakage"])
    original_label = {r["text"]: r["label"] for r in clean}
    assert all(rows[i]["label"] != original_label[rows[i]["text"]] for i in truth["label_noise"])


def test_injection_is_deterministic_and_can_starve_classes():
    clean = classification_rows()
    first = inject(clean, "classification", FaultRates(starve_classes=1, starve_to=2), seed=5)
    assert first == inject(clean, "classification", FaultRates(starve_classes=1, starve_to=2), seed=5)
    rows, truth = first
    counts = Counter(r["label"] for r in rows)
    assert sorted(counts.values())[0] >= 2 and len(truth["starved"]) == 2
    assert len({rows[i]["label"] for i in truth["starved"]}) == 1


def test_generation_data_gets_input_faults():
    clean = [{"prompt": f"dialogue number {i} about topic {i * 7}", "completion": f"summary {i}"} for i in range(50)]
    rows, truth = inject(clean, "completion", FaultRates(), seed=1)
    assert "label_noise" not in truth and len(truth["near_duplicate"]) == 2


def test_inject_command_writes_faulty_rows_with_the_original_columns_and_the_truth(tmp_path):
    import json

    from tests.conftest import write_jsonl
    from tunewise.cli import main

    rows = [{"query": r["text"], "intent": r["label"]} for r in classification_rows()]
    data = write_jsonl(tmp_path / "clean.jsonl", rows)
    out = tmp_path / "raw.jsonl"
    code = main(
        [
            "inject",
            str(data),
            "--column",
            "text=query",
            "--column",
            "label=intent",
            "--out",
            str(out),
            "--exact-duplicate",
            "0.1",
            "--seed",
            "2",
        ]
    )
    assert code == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    truth = json.loads((tmp_path / "raw.jsonl.truth.json").read_text())
    assert truth["rows"] == len(written) and set(written[0]) == {"query", "intent"}
    assert len(truth["faults"]["exact_duplicate"]) == 5


def test_inject_leaks_from_the_whole_test_file_even_with_max_rows(tmp_path):
    import json

    from tests.conftest import write_jsonl
    from tunewise.cli import main

    data = write_jsonl(tmp_path / "clean.jsonl", classification_rows())
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": f"held out {i}", "label": "change_pin"} for i in range(20)])
    config = tmp_path / "tunewise.yaml"
    config.write_text("data:\n  max_rows: 10\n")
    out = tmp_path / "raw.jsonl"
    assert (
        main(
            [
                "inject",
                str(data),
                "--config",
                str(config),
                "--test",
                str(test),
                "--out",
                str(out),
                "--leakage",
                "1.5",
                "--exact-duplicate",
                "0",
                "--near-duplicate",
                "0",
                "--label-noise",
                "0",
                "--empty",
                "0",
            ]
        )
        == 0
    )
    truth = json.loads((tmp_path / "raw.jsonl.truth.json").read_text())
    assert len(truth["faults"]["leakage"]) == 15


def test_story_faults_skew_the_rarest_classes_copy_common_ones_and_add_boilerplate():
    from tests.data.audit.test_banking77_faults import banking77
    from tunewise.data.faults import BOILERPLATE

    clean = banking77("train")[:3000]
    rates = FaultRates(
        exact_duplicate=0.1,
        near_duplicate=0.1,
        label_noise=0.1,
        empty=0,
        leakage=0,
        boilerplate=0.03,
        skew_rarest=1 / 3,
        skew_keep=0.2,
        duplicates_from_common=1 / 3,
        noise_confusable_only=True,
    )
    rows, truth = inject(clean, "classification", rates, seed=0)
    before, after = Counter(r["label"] for r in clean), Counter(r["label"] for r in rows)
    rarest = sorted(before, key=lambda label: (before[label], label))[: round(len(before) / 3)]
    skewed = Counter(rows[i]["label"] for i in truth["skewed"])
    assert set(skewed) == set(rarest) and all(skewed[label] == max(1, round(before[label] * 0.2)) for label in rarest)
    common = {
        label
        for label, _ in Counter(r["label"] for r in clean if r["label"] not in rarest).most_common(
            round(len(before) / 3)
        )
    }
    copies = truth["exact_duplicate"] + truth["near_duplicate"]
    assert copies and all(rows[i]["label"] in common for i in copies)
    assert truth["boilerplate"] and all(rows[i]["text"] in BOILERPLATE for i in truth["boilerplate"])
    flipped = [rows[i] for i in truth["label_noise"]]
    original = {r["text"]: r["label"] for r in clean}
    shares_a_word = [set(r["label"].split("_")) & set(original[r["text"]].split("_")) for r in flipped]
    assert len(flipped) > 100 and all(shares_a_word)  # every flip lands on a confusable intent
    assert sum(after.values()) == len(rows)


def test_decorated_duplicates_are_the_same_request_that_normalisation_cannot_match():
    clean = classification_rows()
    rows, truth = inject(clean, "classification", FaultRates(decorated_duplicate=0.2, exact_duplicate=0), seed=5)
    assert len(truth["decorated_duplicate"]) == round(len(clean) * 0.2)
    originals = {normalize(r["text"]): r["label"] for r in clean}
    for i in truth["decorated_duplicate"]:
        copy = normalize(rows[i]["text"])
        assert copy not in originals  # not an exact duplicate after normalisation
        source = [text for text in originals if text in copy]
        assert source and originals[source[0]] == rows[i]["label"]  # but the whole request, with its label
