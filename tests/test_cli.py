"""The command line as a user meets it: --help everywhere, one-line errors with exit code 2, no tracebacks."""

import json
import subprocess
import sys

import pytest

from tunewise.cli import build_parser, main

COMMANDS = [
    [],
    ["init"],
    ["run"],
    ["tune"],
    ["demo"],
    ["audit"],
    ["curate"],
    ["split"],
    ["inject"],
    ["models"],
    ["models", "prepare"],
    ["eval"],
    ["report"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tunewise")
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: tunewise" in capsys.readouterr().out


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["frobnicate"])
    assert exit_.value.code == 2


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tunewise", *args], capture_output=True, text=True, cwd=cwd)


def test_bad_config_is_one_line_exit_2_without_traceback(tmp_path):
    config = tmp_path / "tunewise.yaml"
    config.write_text("data:\n  path: d.jsonl\ntrain:\n  epochz: 3\n")
    result = run_cli("run", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {config}:4: train.epochz: unknown key (allowed: {result.stderr.split('allowed: ')[1].strip()}"
    ]
    assert "Traceback" not in result.stderr


def test_bad_data_names_file_line_and_field(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": "b", "labl": "y"}\n')
    config = tmp_path / "tunewise.yaml"
    config.write_text("data:\n  path: d.jsonl\n")
    result = run_cli("run", str(config))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'd.jsonl'}:2: field 'label': missing"


def test_unknown_model_name_is_a_usage_error(tmp_path, classification_file):
    config = tmp_path / "tunewise.yaml"
    config.write_text(f"data:\n  path: {classification_file}\nmodel:\n  name: gpt-17-ultra\n")
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "unknown model 'gpt-17-ultra'" in result.stderr and "smollm2-135m-instruct" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "tunewise.yaml"
    assert main(["init", str(target)]) == 0
    from tunewise.config import load_config

    assert load_config(target).data.path == "data/train.jsonl"
    assert main(["init", str(target)]) == 2
    assert main(["init", str(target), "--force"]) == 0


def test_models_lists_the_registry_with_cache_state(tmp_path, capsys):
    assert main(["models", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m-instruct" in out and "gemma3-270m" in out and "135M" in out
    assert "no" in out  # nothing is cached in an empty cache folder


def test_models_prepare_unknown_name(tmp_path, capsys):
    assert main(["models", "prepare", "nope", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_skip_invalid_flag_lists_skipped_lines_and_goes_on(tmp_path, tiny_model_dir):
    from tests.conftest import classification_rows

    lines = [json.dumps(r) for r in classification_rows()]
    lines.insert(3, '{"text": "broken", ')
    lines.insert(10, '{"text": "no label"}')
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(lines) + "\n")
    config = tmp_path / "tunewise.yaml"
    config.write_text(
        f"data:\n  path: d.jsonl\nmodel:\n  name: {tiny_model_dir}\n"
        "train:\n  max_steps: 1\neval:\n  compare_base: false\n  max_new_tokens: 4\n"
    )
    result = run_cli("run", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and f"{data}:4: malformed JSON" in result.stderr
    result = run_cli("run", str(config), "--skip-invalid", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert f"skipped {data}:4: malformed JSON" in " ".join(result.stderr.split())
    assert f"skipped {data}:11: field 'label': missing" in " ".join(result.stderr.split())
    manifest = json.loads((tmp_path / "run" / "split" / "manifest.json").read_text())
    assert [line.split(": ")[0] for line in manifest["skipped"]] == [f"{data}:4", f"{data}:11"]
    assert sum(manifest["sizes"].values()) == 54


@pytest.mark.parametrize("command", ["eval", "report"])
def test_eval_and_report_need_a_run_directory(command, tmp_path):
    result = run_cli(command, str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path}: not a tunewise run directory (no config.yaml)"


def test_a_command_whose_optional_extra_is_missing_says_which_extra_to_install(tmp_path):
    import subprocess
    import sys

    blocked = "import sys; sys.modules['uvicorn'] = None; sys.modules['fastapi'] = None\n"
    run = blocked + "from tunewise.cli import main; sys.exit(main(sys.argv[1:]))"
    for argv, extra in (
        (["review", "serve", "--db", str(tmp_path / "r.db")], "review"),
        (["serve", str(tmp_path)], "serve"),
    ):
        done = subprocess.run([sys.executable, "-c", run, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert (
            done.stderr.strip()
            == f"error: `tunewise {argv[0]}` needs the '{extra}' extra: pip install 'tunewise[{extra}]'"
        )
