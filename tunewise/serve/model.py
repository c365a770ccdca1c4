"""The served model: a finished run's fine-tuned model loaded once, and the one function that answers a batch
of requests with the code paths the run's evaluation used (so a served answer is the evaluated answer)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

from tunewise.data.formats import classifier_text, prompt_messages
from tunewise.data.split import class_labels
from tunewise.errors import TunewiseError
from tunewise.evaluate.predict import answer, predict_classes
from tunewise.evaluate.stage import load_tuned
from tunewise.models.loading import model_and_renderer
from tunewise.rundir import RunDir


@dataclass
class Served:
    name: str  # the run's name, the "model" of an OpenAI-style answer
    task: str  # classification, chat or completion
    head: bool  # a classification head (probabilities) rather than label decoding or text
    cfg: object
    model: object
    renderer: object
    labels: list[str] | None
    checker: object = None  # a copy of the renderer for the request threads: a fast tokenizer is not re-entrant

    @property
    def classifies(self) -> bool:
        return self.task == "classification"


def load_served(run_dir: Path) -> Served:
    """The run's fine-tuned model, ready to answer; a clear error for a run that cannot be served."""
    run = RunDir(run_dir)
    cfg = run.load_config()
    if not run.checkpoint.is_dir():
        raise TunewiseError(f"{run.checkpoint}: missing; the run's training did not finish (rerun tunewise run)")
    task = run.task()
    if task == "preference":
        raise TunewiseError(
            f"{run.root}: a preference (DPO) run; serve answers classification, chat and completion runs"
        )
    head = cfg.train.objective_for(task) == "classify"  # as evaluation decides it (an encoder run classifies)
    labels = class_labels(cfg, run.read_splits()) if task == "classification" else None
    model_path, renderer = model_and_renderer(cfg)
    model = load_tuned(cfg, model_path, renderer, run.checkpoint, task)
    checker = replace(renderer, tokenizer=copy.deepcopy(renderer.tokenizer))
    return Served(cfg.name, task, head, cfg, model.eval(), renderer, labels, checker)


def answer_batch(served: Served, requests: list[tuple[str, object, int]]) -> list[dict]:
    """Answers to ``(kind, payload, max_new_tokens)`` requests in their order: kind ``classify`` (payload: a text)
    gives ``{"label", "top"}``; kind ``chat`` (payload: messages ending with the user's turn) gives ``{"text"}``.
    Requests of one kind and token budget run as one batch."""
    found: list[dict | None] = [None] * len(requests)
    groups: dict[tuple[str, int], list[int]] = {}
    for index, (kind, _, budget) in enumerate(requests):
        groups.setdefault((kind, budget if kind == "chat" and not served.classifies else 0), []).append(index)
    for (kind, budget), indices in groups.items():
        payloads = [requests[i][1] for i in indices]
        answers = _classify(served, payloads) if kind == "classify" else _chat(served, payloads, budget)
        for index, each in zip(indices, answers, strict=True):
            found[index] = each
    return found


def _classify(served: Served, texts: list[str]) -> list[dict]:
    cfg = served.cfg
    if served.head:
        inputs = [classifier_text({"text": t}, cfg.model.instruction) for t in texts]
        labels, tops = predict_classes(
            served.model, served.renderer.tokenizer, inputs, len(inputs), cfg.model.max_length, show_progress=False
        )
        return [{"label": label, "top": top} for label, top in zip(labels, tops, strict=True)]
    prompts = [prompt_messages({"text": t}, "classification", cfg.model.instruction) for t in texts]
    labels = answer(served.model, served.renderer, prompts, "classification", served.labels, 1, len(prompts))
    return [{"label": label, "top": None} for label in labels]


def _chat(served: Served, conversations: list[list[dict]], max_new_tokens: int) -> list[dict]:
    """A classification run answers a chat with the label of its last user message; a completion run answers
    that message as its prompt; a chat run answers the conversation."""
    if served.classifies:
        return [{"text": found["label"]} for found in _classify(served, [c[-1]["content"] for c in conversations])]
    cfg = served.cfg
    if served.task == "completion":
        conversations = [
            prompt_messages({"prompt": c[-1]["content"]}, "completion", cfg.model.instruction) for c in conversations
        ]
    texts = answer(served.model, served.renderer, conversations, served.task, None, max_new_tokens, len(conversations))
    return [{"text": text} for text in texts]


def token_count(served: Served, text: str) -> int:
    return len(served.checker.tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_length(served: Served, kind: str, payload, budget: int) -> int:
    """The tokens of the prompt the model will read for a request, checked before it joins a batch: a ValueError
    (the request's fault) when the chat template refuses the messages or the prompt and its answer would not fit
    the model's context. A head truncates its text itself (model.max_length), so its requests always fit."""
    text = payload if kind == "classify" else payload[-1]["content"]
    tokenizer, cfg = served.checker.tokenizer, served.cfg
    if served.head:
        return min(len(tokenizer(text, add_special_tokens=True)["input_ids"]), cfg.model.max_length)
    if served.classifies:
        messages = prompt_messages({"text": text}, "classification", cfg.model.instruction)
    elif served.task == "completion":
        messages = prompt_messages({"prompt": text}, "completion", cfg.model.instruction)
    else:
        messages = payload
    try:
        tokens = len(served.checker.prompt_ids(messages))
    except Exception as exc:  # noqa: BLE001 - a chat template raises its own errors (role order, roles it lacks)
        raise ValueError(f"the model's chat template refuses these messages: {exc}") from None
    context = getattr(served.model.config, "max_position_embeddings", None)
    if context is not None and tokens + budget > context:
        raise ValueError(f"the prompt is {tokens} tokens; with {budget} to answer it exceeds the model's {context}")
    return tokens
