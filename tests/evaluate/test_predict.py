import pytest
import torch

from tests.conftest import LABELS, TEXTS
from tunewise.evaluate import generate_answers, predict_labels
from tunewise.evaluate.predict import PROBE, _build_trie, _common_prefix_length, _until_stop
from tunewise.models.prompts import make_renderer

PROMPTS = [[{"role": "user", "content": t}] for t in ["where is my card", "new pin", "rate?", "is the rate good today"]]
MANY_PROMPTS = [[{"role": "user", "content": text}] for texts in TEXTS.values() for text in texts]


def _greedy_under_trie(model, renderer, messages, labels) -> str:
    """Reference decoding without caches or batches: the full sequence is recomputed at every step."""
    stops = renderer.stop_ids()
    sequences = {label: _until_stop(renderer.answer_ids(PROBE, label), stops) for label in labels}
    node, ids = _build_trie(sequences.values()), renderer.prompt_ids(messages)
    answer: list[int] = []
    while node:
        with torch.no_grad():
            logits = model(torch.tensor([ids + answer])).logits[0, -1]
        allowed = list(node)
        token = allowed[int(logits[allowed].argmax())]
        answer.append(token)
        node = node[token]
    return next(label for label, seq in sequences.items() if seq == answer)


@pytest.mark.parametrize("prompt_format", ["chat", "plain"])
def test_label_decoding_matches_uncached_greedy_decoding(tiny_model_dir, tiny_tokenizer, prompt_format):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    torch.manual_seed(1)
    for name, weight in model.named_parameters():  # large random weights: answers depend on every token
        if "norm" not in name:
            weight.data.normal_(0, 0.3)
    renderer = make_renderer(tiny_tokenizer, prompt_format, system_prompt="Route the query.")
    # "card" is a prefix of "card_arrival": the model must choose between stopping and going on.
    labels = LABELS + ["card", "change_pin_now"]
    expected = [_greedy_under_trie(model, renderer, m, labels) for m in MANY_PROMPTS]
    assert len(set(expected)) > 1
    assert predict_labels(model, renderer, MANY_PROMPTS, labels, batch_size=5) == expected
    assert predict_labels(model, renderer, MANY_PROMPTS, labels, batch_size=1) == expected


def test_bf16_model_returns_known_labels(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    predictions = predict_labels(model, make_renderer(tiny_tokenizer), PROMPTS, LABELS)
    assert len(predictions) == len(PROMPTS) and set(predictions) <= set(LABELS)


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    assert _common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert _common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert _common_prefix_length([[7], [8, 9]]) == 0


def test_generation_stops_and_decodes_text(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    renderer = make_renderer(tiny_tokenizer)
    answers = generate_answers(model, renderer, [[{"role": "user", "content": "hello"}]] * 2, max_new_tokens=5)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert answers[0] == answers[1]
    assert "<|im_end|>" not in answers[0]


def test_labels_the_tokenizer_cannot_tell_apart_are_refused(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from tunewise.errors import TunewiseError

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    renderer = make_renderer(tiny_tokenizer, "chat")
    renderer.tokenizer.chat_template = renderer.tokenizer.chat_template.replace(
        "message['content']", "message['content'] | trim"
    )
    with pytest.raises(TunewiseError, match="same answer"):
        predict_labels(model, renderer, PROMPTS, ["yes", "yes "])
    with pytest.raises(TunewiseError, match="at least one label"):
        predict_labels(model, renderer, PROMPTS, [])
    assert predict_labels(model, renderer, [], LABELS) == []
