"""Any Hugging Face model: a hub id at a revision (branch, tag or commit) is fetched once into the Hugging Face
cache and the run records the commit; a model whose config maps to its own Python code is refused in one line
unless model.trust_remote_code is set, and then trains. Offline: a hub cache laid out as huggingface_hub writes it,
and HF_HUB_OFFLINE, so nothing is downloaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.errors import TunewiseError
from tunewise.models.registry import hub_commit, resolve_model

MAIN, TAGGED = "1" * 40, "2" * 40


@pytest.fixture
def hub_cache(tiny_model_dir, tmp_path, monkeypatch) -> Path:
    """acme/tiny in an offline hub cache: main and tag v1 at two commits, the same tiny model in both."""
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny"
    for commit in (MAIN, TAGGED):
        shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(MAIN)
    (repo / "refs" / "v1").write_text(TAGGED)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def test_a_hub_id_resolves_to_its_snapshot_at_the_revision_asked(hub_cache):
    assert hub_commit(resolve_model("acme/tiny")) == MAIN
    assert hub_commit(resolve_model("acme/tiny", revision="v1")) == TAGGED
    assert hub_commit(resolve_model("acme/tiny", revision=TAGGED)) == TAGGED
    with pytest.raises(TunewiseError, match=r"acme/tiny at revision 'v9': not in the Hugging Face cache and the hub"):
        resolve_model("acme/tiny", revision="v9")
    with pytest.raises(TunewiseError, match=r"^model.name: acme/other: not in the Hugging Face cache"):
        resolve_model("acme/other")


def test_a_revision_for_a_registry_model_or_a_folder_is_a_one_line_error(tiny_model_dir):
    with pytest.raises(TunewiseError, match="model.revision: 'v1' is for a hub id; 'smollm2-135m-instruct' is a reg"):
        resolve_model("smollm2-135m-instruct", revision="v1")
    with pytest.raises(TunewiseError, match="is a local folder, without revisions"):
        resolve_model(str(tiny_model_dir), revision="v1")


def test_a_run_on_a_hub_id_records_the_commit_it_trained(hub_cache, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, Path("acme/tiny"), "intents.jsonl").read_text()
    (tmp_path / "tunewise.yaml").write_text(
        config.replace("  name: acme/tiny\n", "  name: acme/tiny\n  revision: v1\n")
    )
    from tunewise.pipeline import run

    summary = run(load_config(tmp_path / "tunewise.yaml"), tmp_path / "run")
    assert summary["model"] == "acme/tiny" and summary["model_commit"] == TAGGED
    assert f"revision: '{TAGGED}'" in (tmp_path / "run" / "config.yaml").read_text()  # pinned: v1 may move


CUSTOM_CONFIG = """from transformers import LlamaConfig


class TinyCustomConfig(LlamaConfig):
    model_type = "tiny_custom"
"""
CUSTOM_MODEL = """from transformers import LlamaForCausalLM

from .configuration_tiny import TinyCustomConfig


class TinyCustomForCausalLM(LlamaForCausalLM):
    config_class = TinyCustomConfig
"""


def custom_code_model(tiny_model_dir: Path, folder: Path) -> Path:
    """The tiny model as a repository with its own code: config.json's auto_map names two modules in the folder."""
    shutil.copytree(tiny_model_dir, folder)
    (folder / "configuration_tiny.py").write_text(CUSTOM_CONFIG)
    (folder / "modeling_tiny.py").write_text(CUSTOM_MODEL)
    config = json.loads((folder / "config.json").read_text())
    config |= {
        "model_type": "tiny_custom",
        "architectures": ["TinyCustomForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_tiny.TinyCustomConfig",
            "AutoModelForCausalLM": "modeling_tiny.TinyCustomForCausalLM",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_model_with_its_own_code_is_refused_unless_trusted_and_then_trains(tiny_model_dir, tmp_path, capsys):
    from tunewise.cli import main

    model = custom_code_model(tiny_model_dir, tmp_path / "custom-model")
    rows = [{"prompt": row["text"], "completion": row["label"].replace("_", " ")} for row in classification_rows()]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    config = make_config(tmp_path, model, "rows.jsonl", "audit:\n  in_run: false\n")
    assert main(["run", str(config), "--out", str(tmp_path / "refused")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: model '{model}': it needs the repository's own code ")
    assert "(configuration_tiny.py, modeling_tiny.py)" in error and "model.trust_remote_code: true" in error
    assert not (tmp_path / "refused").exists()
    argv = ["run", str(config), "model.trust_remote_code=true", "eval.compare_base=false", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    trained = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert trained["train"]["steps"] == 6 and "rougeL" in trained["tuned"]
    assert trained["train"]["memory_plan"]  # the plan built the custom model too (no stdin prompt, no skipped plan)


def test_an_auto_map_onto_an_architecture_transformers_has_needs_no_trust(tiny_model_dir, tmp_path):
    from tunewise.models.registry import code_options

    folder = shutil.copytree(tiny_model_dir, tmp_path / "phi-style")
    config = json.loads((folder / "config.json").read_text())  # a Llama, mapped to code it does not need
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_llama_copy.LlamaForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    assert resolve_model(str(folder)) == str(folder) and code_options(folder) == {}
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["tokenization_acme.AcmeTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with pytest.raises(TunewiseError, match=r"it needs the repository's own code \(tokenization_acme.py\)"):
        resolve_model(str(folder))
    assert code_options(folder) == {"trust_remote_code": True}
