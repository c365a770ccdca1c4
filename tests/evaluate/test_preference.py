import pytest
import torch

from tunewise.evaluate.preference import accuracy_of, answer_logprobs, compare_preference, pair_logprobs
from tunewise.models.prompts import make_renderer

ROWS = [
    {"prompt": "where is my card", "chosen": "it was sent monday", "rejected": "no"},
    {"prompt": "new pin", "chosen": "change it in the app", "rejected": "pin pin pin pin pin pin"},
    {"prompt": "rate?", "chosen": "the rate is good today", "rejected": "what"},
]


@pytest.fixture
def model_and_renderer(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), make_renderer(tiny_tokenizer)


def test_answer_logprobs_match_one_row_at_a_time_and_a_manual_sum(model_and_renderer):
    model, renderer = model_and_renderer
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in ROWS]
    answers = [r["chosen"] for r in ROWS]
    batched = answer_logprobs(model, renderer, prompts, answers, batch_size=3)
    single = answer_logprobs(model, renderer, prompts, answers, batch_size=1)
    assert batched == pytest.approx(single, abs=1e-4)
    prompt, answer = renderer.prompt_ids(prompts[0]), renderer.answer_ids(prompts[0], answers[0])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([prompt + answer])).logits[0], dim=-1)
    manual = sum(float(logprobs[len(prompt) - 1 + i, token]) for i, token in enumerate(answer))
    assert batched[0] == pytest.approx(manual, abs=1e-4)


def test_a_model_against_itself_as_reference_prefers_nothing(model_and_renderer):
    model, renderer = model_and_renderer
    plain = accuracy_of(pair_logprobs(model, renderer, ROWS))
    assert plain["n"] == 3 and 0 <= plain["preference_accuracy"] <= 1
    against_itself = accuracy_of(pair_logprobs(model, renderer, ROWS), reference=pair_logprobs(model, renderer, ROWS))
    assert against_itself["preference_accuracy"] == 0.5  # every implicit reward is 0: each pair is a tie


def test_comparison_of_two_preference_scores():
    base = {"preference_accuracy": 0.25, "per_row": [True, False, False, False]}
    tuned = {"preference_accuracy": 1.0, "per_row": [True, True, True, True]}
    result = compare_preference(base, tuned)
    assert result["gain"] == 0.75 and result["only_tuned_right"] == 3 and result["only_base_right"] == 0
