"""Batched predictions. Classification decodes greedily under a label trie (transformers'
``prefix_allowed_tokens_fn``), so every answer is a valid label and only a label's few tokens are generated.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tunewise._progress import progress_bar
from tunewise.models.prompts import Renderer


def predict_labels(
    model, renderer: Renderer, conversations: list[list[dict]], labels: list[str], batch_size: int = 16
) -> list[str]:
    """The label each prompt's greedy, label-constrained answer spells out."""
    stops = renderer.stop_ids()
    probe = [{"role": "user", "content": "x"}]  # answer tokens do not depend on the question
    sequences = {label: _until_stop(renderer.answer_ids(probe, label), stops) for label in labels}
    trie = _build_trie(sequences.values())
    by_sequence = {tuple(ids): label for label, ids in sequences.items()}
    longest = max(len(ids) for ids in sequences.values())
    answers = _generate(model, renderer, conversations, batch_size, longest, _trie_constraint(trie, stops), "classify")
    return [by_sequence.get(tuple(_until_stop(ids, stops)), labels[0]) for ids in answers]


def generate_answers(
    model, renderer: Renderer, conversations: list[list[dict]], max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    """Greedy answers, decoded to text, up to the end-of-turn token."""
    stops = renderer.stop_ids()
    answers = _generate(model, renderer, conversations, batch_size, max_new_tokens, None, "generate")
    return [renderer.tokenizer.decode(_without_stop(ids, stops), skip_special_tokens=True).strip() for ids in answers]


def _generate(
    model,
    renderer: Renderer,
    conversations,
    batch_size: int,
    max_new_tokens: int,
    constraint: Callable | None,
    description: str,
) -> list[list[int]]:
    tokenizer = renderer.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = renderer.stop_ids()
    prompts = [renderer.prompt_ids(messages) for messages in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    results: list[list[int]] = [[] for _ in prompts]
    model.eval()
    device = next(model.parameters()).device
    with progress_bar(description, len(prompts)) as (progress, task), torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in batch)
            input_ids = torch.tensor([[pad_id] * (width - len(prompts[i])) + prompts[i] for i in batch], device=device)
            mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in batch], device=device)
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                eos_token_id=stops,
                pad_token_id=pad_id,
                prefix_allowed_tokens_fn=_only_new_tokens(constraint, width) if constraint else None,
            )
            for row, index in enumerate(batch):
                results[index] = output[row, width:].tolist()
            progress.advance(task, len(batch))
    return results


def _only_new_tokens(constraint: Callable, prompt_width: int) -> Callable:
    """Adapt a constraint on generated tokens to transformers' (batch_id, all_ids) callback."""
    return lambda batch_id, ids: constraint(ids[prompt_width:].tolist())


def _until_stop(ids: list[int], stops: list[int]) -> list[int]:
    """Ids up to and including the first stop token."""
    for position, token in enumerate(ids):
        if token in stops:
            return ids[: position + 1]
    return ids


def _without_stop(ids: list[int], stops: list[int]) -> list[int]:
    kept = _until_stop(ids, stops)
    return kept[:-1] if kept and kept[-1] in stops else kept


def _build_trie(sequences) -> dict:
    root: dict = {}
    for ids in sequences:
        node = root
        for token in ids:
            node = node.setdefault(token, {})
    return root


def _trie_constraint(trie: dict, stops: list[int]) -> Callable[[list[int]], list[int]]:
    def allowed(generated: list[int]) -> list[int]:
        node = trie
        for token in generated:
            if token in stops or token not in node:
                return stops[:1]  # answer complete (or padding after it): keep emitting the stop token
            node = node[token]
        return list(node) or stops[:1]

    return allowed
