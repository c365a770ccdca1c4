"""Answer-only batches (packed and left-aligned) give the same loss and gradients as plain padded batches."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

from tunewise.models.prompts import make_renderer
from tunewise.train.batching import answer_aligned_batch, answer_loss, pack_answer_batch
from tunewise.train.sft import encode_all


@pytest.fixture()
def batch_and_model(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    renderer = make_renderer(tokenizer, system_prompt="Route the query.")
    conversations = [
        ([{"role": "user", "content": text}], label)
        for text, label in [
            ("where is my new card", "card_arrival"),
            ("how do i change my pin please please", "change_pin"),
            ("rate", "exchange_rate please"),  # answers of different lengths
        ]
    ]
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello, how can I help"}]
    conversations.append((chat + [{"role": "user", "content": "my card is lost"}], "card_lost"))  # two answers
    examples, _ = encode_all(renderer, conversations, max_length=64)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    model.config.use_cache = False
    return examples, model, tokenizer


def collate(kind, examples, tokenizer):
    if kind == "packed":
        return pack_answer_batch(examples)
    return answer_aligned_batch(examples, pad_id=tokenizer.pad_token_id)


def answer_only_loss(model, batch):
    batch = dict(batch)
    labels = batch.pop("labels")
    return answer_loss(model(**batch), labels)


def padded_loss(model, tokenizer, examples):
    batch = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)([dict(e) for e in examples])
    return model(**batch).loss


@pytest.mark.parametrize("kind", ["packed", "aligned"])
def test_answer_only_loss_equals_padded_loss(batch_and_model, kind):
    examples, model, tokenizer = batch_and_model
    batch = collate(kind, examples, tokenizer)
    answer_tokens = sum(sum(t != -100 for t in e["labels"]) for e in examples)
    assert int((batch["labels"] != -100).sum()) == answer_tokens
    expected = padded_loss(model, tokenizer, examples)
    torch.testing.assert_close(answer_only_loss(model, batch), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["packed", "aligned"])
def test_answer_only_gradients_equal_padded_gradients(batch_and_model, kind):
    examples, model, tokenizer = batch_and_model
    answer_only_loss(model, collate(kind, examples, tokenizer)).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    padded_loss(model, tokenizer, examples).backward()
    for grad, param in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(grad, param.grad, rtol=1e-4, atol=1e-6)


def test_logits_are_computed_only_near_the_answers(batch_and_model):
    examples, model, tokenizer = batch_and_model
    batch = collate("aligned", examples, tokenizer)
    longest_answer = max(sum(t != -100 for t in e["labels"]) for e in examples)
    assert batch["logits_to_keep"] == longest_answer + 1
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    assert logits.shape[:2] == (len(examples), longest_answer + 1)


def test_packed_examples_do_not_attend_to_each_other(batch_and_model):
    examples, model, _ = batch_and_model
    alone = answer_only_loss(model, pack_answer_batch(examples[-1:]))
    together = pack_answer_batch(examples)
    labels = together.pop("labels")
    logits = model(**together).logits[0]
    own = len([t for t in examples[-1]["labels"] if t != -100])
    last_loss = torch.nn.functional.cross_entropy(logits[-own:], labels[0, -own:])
    torch.testing.assert_close(last_loss, alone, rtol=1e-5, atol=1e-5)


def test_a_kv_cache_would_break_the_packing(batch_and_model):
    """Why the trainer turns use_cache off: with a cache, transformers does not see the packed rows."""
    examples, model, tokenizer = batch_and_model
    batch = pack_answer_batch(examples)
    labels = batch.pop("labels")
    leaky = answer_loss(model(**batch, use_cache=True), labels)
    assert not torch.allclose(leaky, padded_loss(model, tokenizer, examples), atol=1e-4)


def test_gradient_accumulation_divides_by_the_answer_tokens_of_all_micro_batches(batch_and_model):
    examples, model, tokenizer = batch_and_model
    first, second = collate("aligned", examples[:1], tokenizer), collate("aligned", examples[1:], tokenizer)
    total = sum(int((b["labels"] != -100).sum()) for b in (first, second))
    accumulated = sum(
        answer_loss(model(**{k: v for k, v in b.items() if k != "labels"}), b["labels"], total) for b in (first, second)
    )
    torch.testing.assert_close(accumulated, padded_loss(model, tokenizer, examples), rtol=1e-5, atol=1e-5)


def test_a_tracker_that_is_not_installed_is_a_one_line_error(tmp_path):
    from transformers.integrations import get_available_reporting_integrations

    from tunewise.config import TrainConfig
    from tunewise.errors import TunewiseError
    from tunewise.train.sft import training_arguments

    missing = next(n for n in ("tensorboard", "mlflow", "wandb") if n not in get_available_reporting_integrations())
    with pytest.raises(TunewiseError, match=f"train.report_to: '{missing}' is not installed"):
        training_arguments(TrainConfig(report_to=[missing]), 0, tmp_path, "fp32")
    assert training_arguments(TrainConfig(), 0, tmp_path, "fp32").report_to == []
