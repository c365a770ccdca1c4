"""Batched predictions.

Classification decodes greedily under a label trie, so every answer is a valid label. It is fast because
each row computes only its own tokens: the prompt text every row shares (system prompt, instruction) is run
once and its key/value cache reused; rows of similar length share a batch; decoding stops as soon as the
tokens chosen so far leave a single label possible. Generation tasks use `model.generate`.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch

from tunewise._progress import progress_bar
from tunewise.errors import TunewiseError
from tunewise.models.prompts import Renderer

PROBE = [{"role": "user", "content": "x"}]  # answer tokens do not depend on the question


def predict_labels(
    model,
    renderer: Renderer,
    conversations: list[list[dict]],
    labels: list[str],
    batch_size: int = 64,
) -> list[str]:
    """The label each prompt's greedy, label-constrained answer spells out. A bf16 model runs under bf16
    autocast (norms and softmax stay in fp32)."""
    if not conversations:
        return []
    if not labels:
        raise TunewiseError("classification needs at least one label")
    stops = renderer.stop_ids()
    sequences = {label: _until_stop(renderer.answer_ids(PROBE, label), stops) for label in labels}
    _check_distinct(sequences, stops)
    trie = _build_trie(sequences.values())
    by_sequence = {tuple(ids): label for label, ids in sequences.items()}
    prompts = [renderer.prompt_ids(messages) for messages in conversations]
    shared = _common_prefix_length(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers: list[list[int]] = [[] for _ in prompts]
    model.eval()
    with torch.inference_mode(), _autocast(model), progress_bar("classify", len(prompts)) as (bar, task):
        prefix_cache = _prefix_cache(model, prompts[0][:shared])
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            rests = [prompts[i][shared:] for i in batch]
            for index, ids in zip(batch, _decode_batch(model, prefix_cache, shared, rests, trie), strict=True):
                answers[index] = ids
            bar.advance(task, len(batch))
    return [by_sequence[tuple(ids)] for ids in answers]


def _check_distinct(sequences: dict[str, list[int]], stops: list[int]) -> None:
    """Every label must decode to its own token sequence, closed by a stop token, or it could never be answered."""
    seen: dict[tuple, str] = {}
    for label, ids in sequences.items():
        if not ids or ids[-1] not in stops:
            raise TunewiseError(f"label '{label}': its answer has no end-of-turn token, so it cannot be decoded alone")
        if tuple(ids) in seen:
            raise TunewiseError(
                f"labels '{seen[tuple(ids)]}' and '{label}' are the same answer to the model's tokenizer"
            )
        seen[tuple(ids)] = label


def _decode_batch(model, prefix_cache, shared: int, rests: list[list[int]], trie: dict) -> list[list[int]]:
    """Walk the label trie for each row: one forward pass per branching point, forced tokens fed together."""
    device = next(model.parameters()).device
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    cache = copy.deepcopy(prefix_cache)
    if shared:
        cache.batch_repeat_interleave(len(rests))
    mask = torch.ones(len(rests), shared, dtype=torch.long, device=device)
    next_position = torch.full((len(rests),), shared, dtype=torch.long, device=device)
    nodes, answers, pending = [trie] * len(rests), [[] for _ in rests], [list(ids) for ids in rests]
    active = list(range(len(rests)))
    while active:
        chunk, chunk_mask, positions = _left_padded([pending[row] for row in active], next_position, device)
        mask = torch.cat([mask, chunk_mask], dim=1)
        hidden = decoder(
            input_ids=chunk, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True
        ).last_hidden_state[:, -1]
        next_position = positions[:, -1] + 1
        still_open = []
        scores = _label_token_scores(head, hidden, [list(nodes[row]) for row in active])
        for slot, row in enumerate(active):
            allowed = list(nodes[row])
            token = allowed[int(scores[slot].argmax())]
            pending[row] = [token]
            nodes[row] = nodes[row][token]
            while len(nodes[row]) == 1:  # only one way on: no need to ask the model
                token = next(iter(nodes[row]))
                pending[row].append(token)
                nodes[row] = nodes[row][token]
            answers[row] += pending[row]
            if nodes[row]:
                still_open.append(slot)
        if len(still_open) < len(active):
            keep = torch.tensor(still_open, dtype=torch.long, device=device)
            cache.batch_select_indices(keep)
            mask, next_position = mask[keep], next_position[keep]
        active = [active[slot] for slot in still_open]
    return answers


def _prefix_cache(model, prefix: list[int]):
    """The key/value cache of the tokens every prompt starts with, computed once."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    if prefix:
        device = next(model.parameters()).device
        model.get_decoder()(input_ids=torch.tensor([prefix], device=device), cache=cache, use_cache=True)
    return cache


def _label_token_scores(head, hidden: torch.Tensor, allowed: list[list[int]]) -> list[torch.Tensor]:
    """Output-layer scores of each row's allowed tokens only: a few dot products instead of the whole vocabulary.
    Any final monotonic squashing (e.g. logit soft-capping) is left out: it cannot change the argmax."""
    candidates = sorted({token for tokens in allowed for token in tokens})
    column = {token: i for i, token in enumerate(candidates)}
    weight = head.weight[candidates]
    logits = hidden.to(weight.dtype) @ weight.T
    if getattr(head, "bias", None) is not None:
        logits = logits + head.bias[candidates]
    return [logits[slot, [column[t] for t in tokens]] for slot, tokens in enumerate(allowed)]


def _left_padded(chunks: list[list[int]], start: torch.Tensor, device) -> tuple[torch.Tensor, ...]:
    """Token chunks left-padded to one width, their mask, and positions continuing from each row's `start`."""
    width = max(len(c) for c in chunks)
    ids = torch.tensor([[0] * (width - len(c)) + c for c in chunks], dtype=torch.long, device=device)
    mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunks], dtype=torch.long, device=device)
    positions = start[:, None] + (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids, mask, positions


def _common_prefix_length(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each prompt at least one token of its own."""
    shortest = min(len(p) for p in prompts)
    length = 0
    while length < shortest - 1 and all(p[length] == prompts[0][length] for p in prompts):
        length += 1
    return length


def _autocast(model):
    dtype = next(model.parameters()).dtype
    if dtype in (torch.bfloat16, torch.float16):
        return torch.autocast(next(model.parameters()).device.type, dtype=dtype)
    return nullcontext()


def generate_answers(
    model, renderer: Renderer, conversations: list[list[dict]], max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    """Greedy answers, decoded to text, up to the end-of-turn token."""
    stops = renderer.stop_ids()
    answers = _generate(model, renderer, conversations, batch_size, max_new_tokens)
    return [renderer.tokenizer.decode(_without_stop(ids, stops), skip_special_tokens=True).strip() for ids in answers]


def _generate(
    model,
    renderer: Renderer,
    conversations,
    batch_size: int,
    max_new_tokens: int,
) -> list[list[int]]:
    tokenizer = renderer.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = renderer.stop_ids()
    prompts = [renderer.prompt_ids(messages) for messages in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths share a batch
    results: list[list[int]] = [[] for _ in prompts]
    model.eval()
    device = next(model.parameters()).device
    with progress_bar("generate", len(prompts)) as (progress, task), torch.inference_mode(), _autocast(model):
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
            )
            for row, index in enumerate(batch):
                results[index] = output[row, width:].tolist()
            progress.advance(task, len(batch))
    return results


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


def answer(model, renderer, conversations, task: str, labels, max_new_tokens: int, batch_size: int) -> list[str]:
    """The model's answers to chat prompts: a label (constrained decoding) for classification, text otherwise."""
    if task == "classification":
        return predict_labels(model, renderer, conversations, labels, batch_size)
    return generate_answers(model, renderer, conversations, max_new_tokens, batch_size)


def predict_classes(
    model, tokenizer, texts: list[str], batch_size: int, max_length: int, top: int = 3, show_progress: bool = True
):
    """A classification head's answer for each text: one forward pass per batch of similar-length rows, no
    decoding and no vocabulary projection. Returns (labels, the top classes with their probabilities per row)."""
    from tunewise.models.prompts import classifier_ids

    labels = model.config.id2label
    encoded = [classifier_ids(tokenizer, text, max_length)[0] for text in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    probabilities: list = [None] * len(texts)
    device = next(model.parameters()).device
    with torch.inference_mode(), _autocast(model), progress_bar("classify", len(texts), show_progress) as (bar, task):
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt").to(device)
            logits = model(**padded).logits.float()
            for index, row in zip(batch, torch.softmax(logits, dim=-1), strict=True):
                probabilities[index] = row
            bar.advance(task, len(batch))
    answers, tops = [], []
    for row in probabilities:
        values, indices = torch.topk(row, min(top, row.numel()))
        tops.append([[labels[int(i)], round(float(v), 4)] for v, i in zip(values, indices, strict=True)])
        answers.append(tops[-1][0][0])
    return answers, tops
