"""The measurements of one candidate, each run in a fresh process (see `isolated`) so that its peak memory
is its own and nothing of it stays loaded: the prior fit of a decoder (before any tuning), and the probe: a
fine-tune on the probe examples (text generation, or a classification head), or a baseline fitted on them.

All read a plain ``data`` dict prepared once for all candidates (see `tunewise.select.probe_data`):
``task``, ``labels``, ``probe`` / ``validation`` / ``shots`` as [messages, answer] pairs, ``prior_texts``, and
``texts``: the probe's and validation's inputs as one string each (what a head or a baseline reads).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tunewise.select.cost import StepTimer, disk_bytes, length_counts, parameter_count
from tunewise.train.plan import peak_memory_bytes

VERSION = 6  # part of the cache key: raise it when a change here changes what is measured
# a baseline or an encoder has no text to score before tuning; a decoder's head keeps its prior's serving peak (the
# same weights, answering as text), an encoder's is not measured apart from its training
UNMEASURED = {"zero_shot": None, "few_shot": None, "bits_per_byte": None, "inference_peak_bytes": None}
LAUNCHER_VARIABLES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def isolated(function, *args):
    """``function(*args)`` in a fresh process; its exceptions (TunewiseError included) are raised here."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_fresh_process) as pool:
        return pool.submit(function, *args).result()


def _fresh_process() -> None:
    """A measurement is one process on its own, even when started from a torchrun/accelerate worker (whose
    variables would make its Trainer join the launcher's process group)."""
    from tunewise._progress import quiet_libraries

    for name in LAUNCHER_VARIABLES:
        os.environ.pop(name, None)
    quiet_libraries(os.environ.get("TUNEWISE_DEBUG") == "1")


def prior_fit(cfg, model_path: str, data: dict) -> dict:
    """How well the untuned model fits the task: bits per byte of the task's text, zero- and few-shot validation
    scores; and its inference cost: size, batched throughput, one-at-a-time latency, peak memory."""
    from tunewise.models.loading import load_for_eval, model_and_renderer

    _, renderer = model_and_renderer(cfg)
    model = load_for_eval(model_path, None, cfg)
    validation = data["validation"]
    questions = [m for m, _ in validation]
    _answer(cfg, model, renderer, data, questions[:1], batch_size=1)  # warm-up (first-call set-up is not serving)
    started = time.perf_counter()
    zero_shot = _answer(cfg, model, renderer, data, questions, cfg.eval.batch_size)
    batch_seconds = time.perf_counter() - started
    single = questions[: cfg.select.latency_rows]
    started = time.perf_counter()
    _answer(cfg, model, renderer, data, single, batch_size=1)
    latency = (time.perf_counter() - started) / len(single)
    # what serving needs, read before the few-shot prompts (longer than any served one) and the prior fit (whose
    # full-vocabulary scores no server computes) raise the peak
    serving_peak = peak_memory_bytes()
    few_shot = None
    if data["shots"]:
        few_shot = _answer(cfg, model, renderer, data, [_with_shots(m, data["shots"]) for m in questions])
    return {
        "parameters": parameter_count(model),
        "disk_bytes": disk_bytes(model_path),
        "bits_per_byte": bits_per_byte(model, renderer.tokenizer, data["prior_texts"]),
        "zero_shot": _scores(data, validation, zero_shot),
        "few_shot": _scores(data, validation, few_shot) if few_shot is not None else None,
        "rows_per_second": len(validation) / batch_seconds,
        "latency_seconds": latency,
        "inference_peak_bytes": serving_peak,
        "device": str(next(model.parameters()).device),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
    }


def probe_fine_tune(cfg, model_path: str, data: dict) -> dict:
    """Fine-tune with the config's train settings on exactly the probe examples (one pass), then score the
    validation rows; also measures training speed and peak memory."""
    from transformers import PrinterCallback

    from tunewise.models.loading import eval_dtype, model_and_renderer
    from tunewise.train.guards import RichProgress
    from tunewise.train.lora import AdapterInputsUncast
    from tunewise.train.sft import build_trainer, encode_all

    _, renderer = model_and_renderer(cfg)
    steps = math.ceil(len(data["probe"]) / (cfg.train.batch_size * cfg.train.gradient_accumulation))
    train_cfg = cfg.train.model_copy(update={"max_steps": steps, "epochs": 1.0, "logging_steps": max(1, steps // 10)})
    train_set, truncated = encode_all(renderer, [tuple(pair) for pair in data["probe"]], cfg.model.max_length)
    timer = StepTimer()
    with tempfile.TemporaryDirectory(prefix="tunewise-probe-") as work:
        trainer = build_trainer(
            model_path,
            renderer,
            train_set,
            None,
            train_cfg,
            cfg.seed,
            Path(work),
            [RichProgress(), timer, AdapterInputsUncast()],
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            include_num_input_tokens_seen="non_padding",
        )
        trainer.remove_callback(PrinterCallback)
        trainer.data_collator = timer.counting(trainer.data_collator)
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started
    state = trainer.state
    train_peak = peak_memory_bytes()
    model = trainer.model.merge_and_unload() if cfg.train.adapters else trainer.model
    model = model.to(dtype=eval_dtype(cfg, next(model.parameters()).device))
    validation = data["validation"]
    answers = _answer(cfg, model, renderer, data, [m for m, _ in validation], cfg.eval.batch_size)
    losses = [row["loss"] for row in state.log_history if "loss" in row]
    return {
        "probe": _scores(data, validation, answers),
        "steps": state.global_step,
        "examples": len(train_set),
        "truncated_rows": truncated,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "train_tokens": int(state.num_input_tokens_seen),
        "train_tokens_per_second": int(state.num_input_tokens_seen) / timer.seconds if timer.seconds else None,
        "step_seconds": timer.steady_step_seconds(),
        "step_model": timer.step_model(),
        "length_counts": length_counts(train_set),
        "train_seconds": train_seconds,
        "train_peak_bytes": train_peak,
    }


def bits_per_byte(model, tokenizer, texts: list[str], batch_size: int = 16) -> float:
    """Negative log-likelihood of the texts in bits per UTF-8 byte: unlike perplexity per token it does not
    depend on the tokenizer, so models with different vocabularies compare fairly. Each text is scored from a
    start token (BOS, or EOS as a document boundary), so every one of its tokens is predicted."""
    import torch

    from tunewise._progress import progress_bar

    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    nats, total_bytes = 0.0, 0
    model.eval()
    with torch.inference_mode(), progress_bar("prior fit", len(texts)) as (bar, task):
        for first in range(0, len(texts), batch_size):
            batch = texts[first : first + batch_size]
            rows = [[start] + tokenizer(text, add_special_tokens=False)["input_ids"] for text in batch]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [start] * (width - len(r)) for r in rows], device=device)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            nats += float(torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="sum"))
            total_bytes += sum(len(text.encode("utf-8")) for text in batch)
            bar.advance(task, len(batch))
    return nats / math.log(2) / max(total_bytes, 1)


def _with_shots(messages: list[dict], shots: list) -> list[dict]:
    """Solved examples as earlier turns of the conversation, after its system message if it has one."""
    turns = [
        turn for shot_messages, answer in shots for turn in [*shot_messages, {"role": "assistant", "content": answer}]
    ]
    turns = [t for t in turns if t["role"] != "system"]
    if messages and messages[0]["role"] == "system":
        return [messages[0], *turns, *messages[1:]]
    return [*turns, *messages]


def _answer(cfg, model, renderer, data: dict, conversations: list[list[dict]], batch_size: int | None = None):
    from tunewise.evaluate.predict import answer

    batch_size = batch_size or cfg.eval.batch_size
    return answer(model, renderer, conversations, data["task"], data["labels"], cfg.eval.max_new_tokens, batch_size)


def _scores(data: dict, rows: list, answers: list[str]) -> dict:
    """The headline metric over the rows, its 95 % interval, and the per-row scores for paired comparisons."""
    from tunewise.evaluate.metrics import row_scores
    from tunewise.evaluate.stats import mean_ci

    per_row = row_scores(data["task"], [answer for _, answer in rows], answers)
    return {"score": statistics.fmean(per_row), "score_ci": mean_ci(per_row), "per_row": per_row}


def probe_head(cfg, model_path: str, data: dict) -> dict:
    """Fine-tune a classification head (LoRA + head on a decoder; every weight of an encoder, its head started
    from a linear probe) on exactly the probe examples, one pass, then score the validation rows with it.
    Also measures training speed and memory, and the head's serving throughput and latency."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer

    from tunewise.models.loading import eval_dtype, model_and_renderer
    from tunewise.models.registry import is_encoder, run_cache_dir
    from tunewise.train.classify import encode_rows, encoder_for_training, load_classifier_for_training
    from tunewise.train.guards import RichProgress
    from tunewise.train.lora import AdapterInputsUncast
    from tunewise.train.sft import resolve_precision, training_arguments

    _, renderer = model_and_renderer(cfg)
    tokenizer, labels = renderer.tokenizer, data["labels"]
    rows = list(zip(data["texts"]["probe"], [answer for _, answer in data["probe"]], strict=True))
    steps = math.ceil(len(rows) / (cfg.train.batch_size * cfg.train.gradient_accumulation))
    train_cfg = cfg.train.model_copy(update={"max_steps": steps, "epochs": 1.0, "logging_steps": max(1, steps // 10)})
    train_set, truncated = encode_rows(
        tokenizer, rows, {label: i for i, label in enumerate(labels)}, cfg.model.max_length
    )
    precision = resolve_precision(train_cfg.precision)
    if is_encoder(cfg.model.name):
        cache = run_cache_dir(cfg)
        model = encoder_for_training(model_path, rows, labels, train_cfg, cache)
    else:
        model = load_classifier_for_training(model_path, tokenizer, labels, train_cfg, precision)
    timer = StepTimer()
    with tempfile.TemporaryDirectory(prefix="tunewise-probe-") as work:
        arguments = training_arguments(
            train_cfg,
            cfg.seed,
            Path(work),
            precision,
            train_sampling_strategy="group_by_length" if train_cfg.group_by_length else "random",
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            include_num_input_tokens_seen="non_padding",
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=train_set,
            data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=[RichProgress(), timer, AdapterInputsUncast()],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.data_collator = timer.counting(trainer.data_collator)
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started
    state, train_peak = trainer.state, peak_memory_bytes()
    model = trainer.model.merge_and_unload() if hasattr(trainer.model, "merge_and_unload") else trainer.model
    model = model.to(dtype=eval_dtype(cfg, next(model.parameters()).device)).eval()
    served = _served_by_head(cfg, model, tokenizer, data)
    return {
        "parameters": parameter_count(model),
        "disk_bytes": disk_bytes(model_path),
        "probe": _scores(data, data["validation"], served.pop("answers")),
        **served,
        "steps": state.global_step,
        "examples": len(train_set),
        "truncated_rows": truncated,
        **_training_figures(state, timer, train_seconds, train_peak),
        "length_counts": length_counts(train_set),
    }


def probe_embedding_lr(cfg, model_path: str, data: dict) -> dict:
    """The embedding baseline fitted on exactly the probe examples (frozen sentence embeddings + logistic
    regression at the linear probe's C), scored on the validation rows; its fit and serving cost."""
    from sklearn.linear_model import LogisticRegression

    from tunewise.train.classify import PROBE_C

    def answer(texts, show_progress=True):
        return [str(label) for label in fitted.predict(embed(texts, show_progress=show_progress))]

    embed, probe_texts = _warm_embedder(), data["texts"]["probe"]
    started = time.perf_counter()
    fitted = LogisticRegression(C=PROBE_C, max_iter=2000).fit(embed(probe_texts), [a for _, a in data["probe"]])
    fit_seconds = time.perf_counter() - started
    return _baseline_result(cfg, model_path, data, answer, fit_seconds, fitted.coef_.size + fitted.intercept_.size)


def probe_retrieval(cfg, model_path: str, data: dict) -> dict:
    """The retrieval baseline over exactly the probe examples: each validation prompt gets the answer of its
    nearest probe prompt by embedding; scored on the validation rows, with its cost."""
    import numpy as np

    def answer(texts, show_progress=True):
        nearest = np.argmax(embed(texts, show_progress=show_progress) @ vectors.T, axis=1)
        return [answers[i] for i in nearest.tolist()]

    embed, answers = _warm_embedder(), [a for _, a in data["probe"]]
    started = time.perf_counter()
    vectors = embed(data["texts"]["probe"])
    fit_seconds = time.perf_counter() - started
    return _baseline_result(cfg, model_path, data, answer, fit_seconds, 0)


def _warm_embedder():
    from tunewise.data.embed import embed

    embed(["warm-up"], show_progress=False)  # loading the encoder is start-up, not serving
    return embed


def _baseline_result(cfg, model_path: str, data: dict, answer, fit_seconds: float, fitted_parameters: int) -> dict:
    from tunewise.data.embed import encoder_parameters

    texts = data["texts"]["validation"]
    started = time.perf_counter()
    answers = answer(texts)
    rate = len(texts) / (time.perf_counter() - started)
    single = texts[: cfg.select.latency_rows]
    started = time.perf_counter()
    for text in single:
        answer([text], show_progress=False)
    latency = (time.perf_counter() - started) / len(single)
    return {
        "parameters": encoder_parameters() + fitted_parameters,
        "disk_bytes": disk_bytes(model_path),
        "probe": _scores(data, data["validation"], answers),
        "rows_per_second": rate,
        "latency_seconds": latency,
        "inference_peak_bytes": peak_memory_bytes(),
        "device": _embedder_device(),
        "dtype": "float32",
        "steps": 0,
        "examples": len(data["probe"]),
        "truncated_rows": 0,
        "fit_seconds": fit_seconds,
        "train_loss_first": None,
        "train_loss_last": None,
        "train_tokens": 0,
        "train_tokens_per_second": None,
        "train_seconds": fit_seconds,
        "train_peak_bytes": peak_memory_bytes(),
    }


def _embedder_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"  # where data.embed puts the sentence encoder


def _served_by_head(cfg, model, tokenizer, data: dict) -> dict:
    """The head's validation answers, timed as served: batched throughput, one-at-a-time latency."""
    from tunewise.evaluate.predict import predict_classes

    texts, limit = data["texts"]["validation"], cfg.model.max_length
    predict_classes(model, tokenizer, texts[:1], 1, limit, show_progress=False)  # warm-up
    started = time.perf_counter()
    answers, _ = predict_classes(model, tokenizer, texts, cfg.eval.batch_size, limit)
    rate = len(texts) / (time.perf_counter() - started)
    single = texts[: cfg.select.latency_rows]
    started = time.perf_counter()
    for text in single:
        predict_classes(model, tokenizer, [text], 1, limit, show_progress=False)
    return {
        "answers": answers,
        "rows_per_second": rate,
        "latency_seconds": (time.perf_counter() - started) / len(single),
        "device": str(next(model.parameters()).device),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
    }


def _training_figures(state, timer, train_seconds: float, train_peak) -> dict:
    losses = [row["loss"] for row in state.log_history if "loss" in row]
    tokens = int(state.num_input_tokens_seen)
    return {
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "train_tokens": tokens,
        "train_tokens_per_second": tokens / timer.seconds if timer.seconds else None,
        "step_seconds": timer.steady_step_seconds(),
        "step_model": timer.step_model(),
        "train_seconds": train_seconds,
        "train_peak_bytes": train_peak,
    }
