from pathlib import Path

import pytest
import yaml

from tunewise.config import TunewiseConfig, load_config, starter_yaml
from tunewise.errors import TunewiseError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "tunewise.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "data:\n  path: x.jsonl\ntrain:\n  epochs: 2\n  lr: 0.001\n")
    with pytest.raises(TunewiseError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:5: train.lr: unknown key")
    assert "learning_rate" in message  # the allowed keys are listed


def test_wrong_types_are_all_reported_together(tmp_path):
    path = write(tmp_path, "seed: abc\ntrain:\n  batch_size: many\n")
    with pytest.raises(TunewiseError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:1: seed:")
    assert lines[1].startswith(f"{path}:3: train.batch_size:")
    # a key that takes auto or a number: one line that says both, not one line per kind
    assert lines[1] == f"{path}:3: train.batch_size: Input should be 'auto' or a valid integer"
    assert load_config(write(tmp_path, "train:\n  batch_size: auto\n")).train.fixed_batch == (8, 1)
    with pytest.raises(TunewiseError, match=r"train.batch_size: Value error, must be auto or at least 1, got 0$"):
        load_config(write(tmp_path, "train:\n  batch_size: 0\n"))


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "data:\n  path: [unclosed\n")
    with pytest.raises(TunewiseError, match=r"tunewise.yaml:\d+: invalid YAML"):
        load_config(path)


def test_overrides_and_relative_paths(tmp_path):
    path = write(tmp_path, "data:\n  path: data/train.jsonl\n")
    cfg = load_config(path, ["train.epochs=1.5", "train.lora.r=4", "model.name=gemma3-270m"])
    assert cfg.train.epochs == 1.5 and cfg.train.lora.r == 4 and cfg.model.name == "gemma3-270m"
    assert cfg.resolve_path(cfg.data.path) == tmp_path.resolve() / "data" / "train.jsonl"
    with pytest.raises(TunewiseError, match="train.epochs"):
        load_config(path, ["train.epochs=-1"])
    with pytest.raises(TunewiseError, match="KEY=VALUE"):
        load_config(path, ["train.epochs"])


def test_split_fractions_must_leave_training_rows(tmp_path):
    with pytest.raises(TunewiseError, match="at least 10%"):
        load_config(write(tmp_path, "split:\n  validation: 0.5\n  test: 0.45\n"))


def test_starter_config_is_valid_and_documents_every_default():
    text = starter_yaml()
    cfg = TunewiseConfig.model_validate(yaml.safe_load(text))
    assert cfg.data.path == "data/train.jsonl"
    assert cfg.train == TunewiseConfig().train
    assert "# Evaluations without improvement before stopping." in text


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name != "accelerate")  # accelerate's own
    + sorted((REPO / "examples").rglob("*.yaml"))
    + [REPO / "tunewise/resources/demo.yaml"],
    ids=lambda p: p.name,
)
def test_shipped_configs_validate_and_start_with_their_command(path):
    cfg = load_config(path)
    assert cfg.data.path
    assert path.read_text().startswith("# "), "an example config opens with the command that runs it"


@pytest.mark.parametrize(
    "text, key",
    [
        ("train:\n  early_stopping: 'no'\n", "train.early_stopping"),
        ("train:\n  batch_size: true\n", "train.batch_size"),
        ("train:\n  batch_size: '8'\n", "train.batch_size"),
        ("seed: -1\n", "seed"),
        ("train:\n  epochs: .inf\n", "train.epochs"),
        ("train:\n  lr_scheduler: wobbly\n", "train.lr_scheduler"),
    ],
)
def test_types_are_strict(tmp_path, text, key):
    with pytest.raises(TunewiseError, match=rf": {key}: "):
        load_config(write(tmp_path, text))


def test_yaml_style_float_strings_are_still_numbers(tmp_path):
    assert load_config(write(tmp_path, "train:\n  learning_rate: 2e-4\n")).train.learning_rate == 2e-4


def test_override_errors_name_the_override_not_a_file_line(tmp_path):
    path = write(tmp_path, "train:\n  epochs: 2\n")
    with pytest.raises(TunewiseError) as err:
        load_config(path, ["train.epochs=abc"])
    assert str(err.value).startswith("override 'train.epochs=abc': train.epochs:")
    with pytest.raises(TunewiseError, match=r"override 'model.name=\[a': invalid value"):
        load_config(path, ["model.name=[a"])


def test_override_into_an_empty_section(tmp_path):
    assert load_config(write(tmp_path, "train:\n"), ["train.epochs=1"]).train.epochs == 1
