"""The fine-tuned model as one folder transformers loads by itself: the weights the evaluation scored (a LoRA
adapter merged in fp32, then cast), the tokenizer with its chat template, saved as safetensors."""

from __future__ import annotations

from pathlib import Path

import torch

from tunewise.errors import TunewiseError
from tunewise.evaluate.stage import load_tuned
from tunewise.models.loading import eval_dtype
from tunewise.models.registry import code_options, is_encoder

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def export_dtype(name: str, cfg, evaluated_in: str | None = None) -> str:
    """The dtype to save in: 'auto' is the one the run's evaluation used (``evaluated_in``, from its summary: what
    the verdict saw); for a run that did not record it, the one its evaluation would use on this machine."""
    if name == "auto" and evaluated_in in DTYPES:
        return evaluated_in
    if name == "auto":
        used = eval_dtype(cfg, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        return next(key for key, value in DTYPES.items() if value == used)
    if name not in DTYPES:
        raise TunewiseError(f"--dtype {name}: unknown; choose auto, {', '.join(DTYPES)}")
    return name


def model_kind(cfg, task: str) -> str:
    """encoder (tunewise's mean-pooling classifier), classify (a decoder with a head) or generate."""
    if is_encoder(cfg.model.name):
        return "encoder"
    return cfg.train.objective_for(task)


def fine_tuned_model(cfg, model_path: str, renderer, checkpoint: Path, task: str):
    """The model as the evaluation loads it (adapters merged), kept in fp32 whatever the evaluation's precision:
    the export casts it once, to the dtype asked for."""
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"precision": "fp32"})})
    return load_tuned(cfg, model_path, renderer, checkpoint, task)


def save_merged(model, tokenizer, folder: Path, dtype: str) -> None:
    """Weights (safetensors) and tokenizer files in ``folder``, the weights cast to ``dtype`` on the CPU."""
    model.to(device="cpu", dtype=DTYPES[dtype])
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def load_merged(folder: Path, kind: str, dtype: str):
    """The exported folder loaded back the way a user of it would, in the dtype it was saved in."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if kind == "encoder":
        from tunewise.models.encoder import MeanPoolingClassifier

        loader = MeanPoolingClassifier
    else:
        loader = AutoModelForSequenceClassification if kind == "classify" else AutoModelForCausalLM
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return loader.from_pretrained(folder, dtype=DTYPES[dtype], **code_options(folder)).to(device).eval()


def write_model_files(folder: Path, fmt: str, model, tokenizer, dtype: str, quant: str, kind: str):
    """The format's model files in ``folder``, and the model and tokenizer loaded back from those files alone."""
    import shutil

    from transformers import AutoTokenizer

    from tunewise.export.gguf import convert, gguf_name, load_gguf

    if fmt == "merged":
        save_merged(model, tokenizer, folder, dtype)
        del model  # the caller passes it without keeping a reference: one model in memory at a time
        return load_merged(folder, kind, dtype), AutoTokenizer.from_pretrained(folder, **code_options(folder))
    staged = folder / ".merged"  # the converter reads a merged fp32 folder; it does not stay in the export
    save_merged(model, tokenizer, staged, "fp32")
    del model
    convert(staged, folder / gguf_name(quant), quant)
    shutil.rmtree(staged)
    return load_gguf(folder, gguf_name(quant))
