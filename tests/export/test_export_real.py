"""Export round trips with the real SmolLM2-135M-Instruct (slow): a short generative run on the demo data becomes
a GGUF with an Ollama Modelfile through llama.cpp's converter, and answers as the run did."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from tunewise.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generative_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "run"
    overrides = ["train.objective=generate", "train.max_steps=12", "train.eval_steps=12", "eval.max_rows=60"]
    overrides += ["eval.compare_base=false"]
    assert main(["run", str(REPO / "tunewise" / "resources" / "demo.yaml"), *overrides, "--out", str(out)]) in (0, 1)
    return out


def test_gguf_f16_with_an_ollama_modelfile_answers_as_the_run(generative_run, tmp_path):
    out = tmp_path / "ollama"
    assert main(["export", str(generative_run), "--format", "ollama", "--check-rows", "60", "--out", str(out)]) == 0
    facts = json.loads((out / "export.json").read_text())
    assert (facts["format"], facts["dtype"], facts["rows"]) == ("ollama", "f16", 60)
    assert facts["agreement"] >= 0.99
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "README.md", "export.json", "model-f16.gguf"]
    modelfile = (out / "Modelfile").read_text()
    assert "FROM ./model-f16.gguf" in modelfile and 'SYSTEM """Route the banking customer\'s query' in modelfile
    assert "ollama create demo -f Modelfile" in (out / "README.md").read_text()
