from tunewise.config import TunewiseConfig, load_config
from tunewise.evaluate.access import looks_warning, read_log, record_access, settings_fingerprint


def test_repeated_looks_at_one_test_set_by_different_settings_warn(tmp_path):
    test_file = tmp_path / "test.jsonl"
    test_file.write_text('{"text": "x", "label": "a"}\n')
    entries = []
    for i in range(3):
        run_dir = tmp_path / "runs" / f"run{i}"
        run_dir.mkdir(parents=True)
        config = {"name": f"r{i}", "train": {"learning_rate": 10.0**-i}, "eval": {"batch_size": i}}
        entries.append(record_access(run_dir, test_file, config, "run"))
    assert looks_warning(tmp_path / "runs" / "run0", entries[0], limit=4) is None
    warning = looks_warning(tmp_path / "runs" / "run2", entries[2], limit=3)
    assert warning and "3 differently configured runs" in warning and "--split validation" in warning


def test_same_settings_looked_at_again_count_once(tmp_path):
    test_file = tmp_path / "test.jsonl"
    test_file.write_text("{}\n")
    runs = tmp_path / "runs"
    for name in ("a", "b", "c"):  # only the name and eval settings differ: the same trained model
        (runs / name).mkdir(parents=True)
        entry = record_access(runs / name, test_file, {"name": name, "eval": {"max_rows": len(name)}}, "eval")
    record_access(runs / "c", test_file, {"name": "c"}, "eval")
    assert len(read_log(runs / "c")) == 2
    assert looks_warning(runs / "c", entry, limit=2) is None


def test_a_folder_rerun_with_other_settings_is_named_once(tmp_path):
    test_file = tmp_path / "test.jsonl"
    test_file.write_text("{}\n")
    runs = tmp_path / "runs"
    (runs / "demo").mkdir(parents=True)
    (runs / "other").mkdir(parents=True)
    for rate in (0.1, 0.2):  # the same folder, replaced by a rerun with another learning rate
        record_access(runs / "demo", test_file, {"train": {"learning_rate": rate}}, "run")
    entry = record_access(runs / "other", test_file, {"train": {"learning_rate": 0.3}}, "run")
    warning = looks_warning(runs / "other", entry, limit=3)
    assert "3 differently configured runs" in warning
    assert "(demo: 2 configurations, other)" in warning


def test_a_default_left_out_or_spelled_out_is_the_same_configuration(tmp_path):
    def settings(text: str, overrides=()) -> str:
        path = tmp_path / "tunewise.yaml"
        path.write_text(text)
        return settings_fingerprint(load_config(path, list(overrides)).resolved(exclude_defaults=True))

    left_out = settings("data:\n  path: x.jsonl\n")  # as if tunewise added train.epochs after this config was written
    spelled_out = settings(f"data:\n  path: x.jsonl\ntrain:\n  epochs: {TunewiseConfig().train.epochs}\n")
    assert left_out == spelled_out
    assert settings("data:\n  path: x.jsonl\n", ["train.epochs=7"]) != left_out
    assert settings("data:\n  path: y.jsonl\n") != left_out  # another training file is another configuration
