"""Training batches that score the vocabulary only where an answer token is predicted.

The output layer is 49k words wide, and a classification answer is a few tokens of a 40-token row, so most
of a plain step goes into logits nobody needs. Two collators ask the model (through its own
`logits_to_keep`) for logits only near the answers, and `answer_loss` scores those:

- `answer_aligned_batch` (the default): left-padded rows, so every answer ends at the last position and the
  last K positions hold all of them; with length-grouped batches there is little padding.
- `pack_answer_batch`: one padding-free row per batch. `position_ids` restart at 0 for every example, which
  is how transformers recognises packed sequences and keeps attention inside each example; this only works
  when the model runs without a KV cache (`use_cache=False`).

The forward stays inside the model, so the batches work under DDP/FSDP like any other.
"""

from __future__ import annotations

import torch

IGNORE = -100


def pack_answer_batch(examples: list[dict]) -> dict:
    """Collate tokenised examples ({input_ids, labels}) into one packed row with answer-only targets."""
    ids, positions, labels = [], [], []
    for example in examples:
        ids += example["input_ids"]
        positions += range(len(example["input_ids"]))
        # an example's first token is never a target: it would be predicted from the previous example
        labels += [IGNORE] + example["labels"][1:]
    next_tokens = labels[1:] + [IGNORE]  # position p predicts token p + 1
    keep = [p for p, token in enumerate(next_tokens) if token != IGNORE]
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([positions]),
        "logits_to_keep": torch.tensor(keep),
        "labels": _causal_labels(torch.tensor([[next_tokens[p] for p in keep]])),
    }


def answer_aligned_batch(examples: list[dict], pad_id: int) -> dict:
    """Collate examples left-padded, so every answer ends at the last position: logits are needed only for
    the last K positions, K = the longest stretch from a row's first target token to its end, plus one (a
    single answer: its length; a chat trained on every assistant turn: from its first answer on)."""
    longest = max(len(e["input_ids"]) for e in examples)
    answer_span = max(len(e["labels"]) - _first_target(e["labels"]) for e in examples) + 1
    ids, mask, positions, targets = [], [], [], []
    for example in examples:
        pad = longest - len(example["input_ids"])
        ids.append([pad_id] * pad + example["input_ids"])
        mask.append([0] * pad + [1] * len(example["input_ids"]))
        positions.append([0] * pad + list(range(len(example["input_ids"]))))
        labels = [IGNORE] * pad + example["labels"]
        targets.append((labels[1:] + [IGNORE])[-answer_span:])  # what the last K positions predict
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "position_ids": torch.tensor(positions),
        "logits_to_keep": answer_span,
        "labels": _causal_labels(torch.tensor(targets)),
    }


def _first_target(labels: list[int]) -> int:
    return next((i for i, token in enumerate(labels) if token != IGNORE), len(labels))


def _causal_labels(targets: torch.Tensor) -> torch.Tensor:
    """Targets laid out the way the Trainer reads a causal LM's labels: column j + 1 is what kept logit j must
    predict and column 0 predicts nothing. The Trainer counts the answer tokens of an accumulated batch from
    column 1 on (to normalise the loss); without the empty column 0 it would miss one token per row."""
    return torch.cat([torch.full((targets.shape[0], 1), IGNORE), targets], dim=1)


def answer_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    """Trainer's `compute_loss_func` for these batches: cross-entropy of the kept logits against the aligned
    targets, over answer tokens only (positions without a target are dropped before the softmax), summed and
    divided by the answer tokens of the whole accumulated batch so gradient accumulation is exact."""
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = outputs.logits[keep].float()
    loss = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else keep.sum())
