"""What a name in select.candidates stands for: a cheap baseline (no fine-tune), the registry's encoder, or a decoder
model with the objective it is fine-tuned with.

    embedding_lr                      frozen sentence embeddings + logistic regression (classification)
    retrieval                         the answer of the nearest training prompt (completion, chat)
    minilm-l6                         the encoder, fine-tuned in full with a mean-pooling head (classification)
    smollm2-135m-instruct:classify    a decoder with a classification head (LoRA + head)
    smollm2-135m-instruct:generate    a decoder writing the answer as text
    smollm2-135m-instruct             a decoder with the run's own objective (train.objective)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunewise.errors import TunewiseError
from tunewise.models.registry import MODELS, is_encoder

BASELINE_CANDIDATES = {"embedding_lr": ("classification",), "retrieval": ("completion", "chat")}
SENTENCE_ENCODER = "minilm-l6"  # what the baselines embed with
OBJECTIVES = ("classify", "generate")


@dataclass(frozen=True)
class Candidate:
    name: str  # as listed in select.candidates
    model: str  # what is loaded: a registry name, a model folder or a hub id (a baseline's sentence encoder)
    kind: str  # baseline | encoder | decoder
    objective: str  # baseline | classify | generate

    @property
    def trains(self) -> bool:
        return self.kind != "baseline"


def default_candidates(task: str) -> tuple[list[str], str]:
    """What `select` compares when select.candidates is unset: every family that applies to the task, cheapest
    first, and why, in words."""
    decoders = [name for name in MODELS if not is_encoder(name)]
    if task == "classification":
        encoders = [name for name in MODELS if is_encoder(name)]
        why = (
            "the default for classification data (select.candidates unset): a baseline that needs no fine-tune, "
            "the encoder and every registry decoder, with the run's objective"
        )
        return ["embedding_lr", *encoders, *decoders], why
    why = (
        f"the default for {task} data (select.candidates unset): a baseline that needs no fine-tune and every "
        "registry decoder"
    )
    return ["retrieval", *decoders], why


def parse_candidate(name: str, task: str, run_objective: str) -> Candidate:
    """The candidate ``name`` stands for on ``task`` data; ``run_objective`` is the run's train.objective for it."""
    if name in BASELINE_CANDIDATES:
        if task not in BASELINE_CANDIDATES[name]:
            raise _error(name, f"a baseline for {', '.join(BASELINE_CANDIDATES[name])} data, not {task} data")
        return Candidate(name, SENTENCE_ENCODER, "baseline", "baseline")
    model, objective = _split_objective(name, run_objective)
    if is_encoder(model) and ":" not in name:
        objective = "classify"  # an encoder has no other objective
    if is_encoder(model):
        if objective != "classify" or task != "classification":
            raise _error(name, f"{model} is an encoder: it classifies, on classification data (this is {task} data)")
        return Candidate(name, model, "encoder", "classify")
    if objective == "classify" and task != "classification":
        raise _error(name, f"the classify objective needs classification data (this is {task} data)")
    return Candidate(name, model, "decoder", objective)


def _split_objective(name: str, run_objective: str) -> tuple[str, str]:
    model, colon, suffix = name.rpartition(":")
    if colon and suffix in OBJECTIVES:
        return model, suffix
    if colon and name not in MODELS and not Path(name).expanduser().exists():
        raise _error(name, f"'{suffix}' is not an objective (MODEL:classify or MODEL:generate)")
    return name, run_objective


def _error(name: str, why: str) -> TunewiseError:
    return TunewiseError(
        f"config: select.candidates: '{name}': {why}. A candidate is a registry model ({', '.join(MODELS)}), a "
        f"model folder, MODEL:classify or MODEL:generate, or a baseline ({', '.join(BASELINE_CANDIDATES)})"
    )
