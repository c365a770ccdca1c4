import torch

from tests.conftest import LABELS
from tunewise.evaluate import generate_answers, predict_labels
from tunewise.evaluate.predict import _build_trie, _trie_constraint
from tunewise.models.prompts import make_renderer


def test_trie_constraint_allows_only_label_continuations():
    trie = _build_trie([[5, 6, 9], [5, 7, 9], [8, 9]])
    allowed = _trie_constraint(trie, stops=[9])
    assert sorted(allowed([])) == [5, 8]
    assert sorted(allowed([5])) == [6, 7]
    assert allowed([5, 6]) == [9]
    assert allowed([5, 6, 9]) == [9]  # finished: only the stop token (padding) follows


def test_constrained_decoding_always_returns_a_known_label(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    renderer = make_renderer(tiny_tokenizer)
    prompts = [[{"role": "user", "content": text}] for text in ["where is my card", "new pin", "rate?"] * 3]
    predictions = predict_labels(model, renderer, prompts, LABELS, batch_size=4)
    assert len(predictions) == 9
    assert set(predictions) <= set(LABELS)
    # Batching and padding do not change the answer for a row.
    assert predictions == predict_labels(model, renderer, prompts, LABELS, batch_size=1)


def test_generation_stops_and_decodes_text(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    renderer = make_renderer(tiny_tokenizer)
    answers = generate_answers(model, renderer, [[{"role": "user", "content": "hello"}]] * 2, max_new_tokens=5)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert answers[0] == answers[1]
    assert "<|im_end|>" not in answers[0]
