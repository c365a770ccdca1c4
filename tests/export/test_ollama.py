"""The Ollama Modelfile: a chat template rewritten as Ollama's Go template, checked against the real template."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from tunewise.errors import TunewiseError
from tunewise.export.ollama import go_template, modelfile, render_like_ollama
from tunewise.models.prompts import make_renderer
from tunewise.models.registry import prepare_model

CONVERSATION = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello, how can I help?"},
    {"role": "user", "content": "My top-up failed."},
]


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    return AutoTokenizer.from_pretrained(prepare_model("smollm2-135m-instruct"))


def test_smollm2s_template_becomes_chatml_with_its_default_system_prompt(smollm2_tokenizer):
    text = modelfile(make_renderer(smollm2_tokenizer), "model-f16.gguf")
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER temperature 0" in text
    assert "FROM ./model-f16.gguf" in text
    template = text.split('TEMPLATE """')[1].split('"""')[0]
    assert template.startswith("{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}")
    assert template.endswith("{{ end }}<|im_start|>assistant\n")


def test_the_run_s_system_prompt_wins_and_renders_as_the_run_rendered(smollm2_tokenizer):
    renderer = make_renderer(smollm2_tokenizer, "auto", "Route the banking customer's query to its intent.")
    text = modelfile(renderer, "m.gguf")
    assert 'SYSTEM """Route the banking customer\'s query to its intent."""' in text
    from tunewise.export.ollama import _template_parts

    parts = _template_parts(smollm2_tokenizer)
    assert render_like_ollama(parts, renderer.system_prompt, CONVERSATION) == renderer.prompt_text(CONVERSATION)
    assert go_template(parts) in text


def test_a_template_without_a_default_system_prompt_has_no_system_line(tiny_tokenizer):
    text = modelfile(make_renderer(tiny_tokenizer), "m.gguf")
    assert "SYSTEM" not in text and "TEMPLATE" in text


def test_templates_with_no_ollama_equivalent_and_plain_prompts_are_refused(tiny_tokenizer):
    tiny_tokenizer.chat_template = (  # the role after the content: not OPEN(role) + content + CLOSE
        "{% for m in messages %}{{ m['content'] + ' <' + m['role'] + '>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'answer:' }}{% endif %}"
    )
    with pytest.raises(TunewiseError, match="no Ollama equivalent"):
        modelfile(make_renderer(tiny_tokenizer), "m.gguf")
    tiny_tokenizer.chat_template = None
    with pytest.raises(TunewiseError, match="needs a model with a chat template"):
        modelfile(make_renderer(tiny_tokenizer), "m.gguf")


def test_a_template_that_raises_is_a_one_line_refusal(tiny_tokenizer):
    tiny_tokenizer.chat_template = (  # as Gemma's does: no system role
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}{{ m['content'] }}{% endfor %}"
    )
    with pytest.raises(TunewiseError, match="refuses a system/user/assistant conversation"):
        modelfile(make_renderer(tiny_tokenizer), "m.gguf")
