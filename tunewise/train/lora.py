"""LoRA adapters through PEFT, over a full-precision base or (QLoRA) a 4-bit NF4 one through bitsandbytes."""

from __future__ import annotations

import importlib.util

from peft import LoraConfig as PeftLoraConfig
from peft import get_peft_model, prepare_model_for_kbit_training
from transformers import TrainerCallback

from tunewise.errors import TunewiseError

NOT_QUANTISED = ["lm_head", "score", "classifier"]  # the output layers and heads stay in full precision


def check_quantisation(train_cfg) -> None:
    """train.method: qlora needs bitsandbytes; said before any work."""
    if train_cfg.method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
        raise TunewiseError("train.method: qlora needs bitsandbytes: pip install 'tunewise[qlora]'")


def base_options(train_cfg, precision: str) -> dict:
    """The from_pretrained options of the frozen base: for QLoRA, bitsandbytes' 4-bit NF4 weights (double
    quantisation, the QLoRA paper's setting) computing in the training precision, on this process's device."""
    if train_cfg.method != "qlora":
        return {}
    import torch
    from accelerate import PartialState
    from transformers import BitsAndBytesConfig

    check_quantisation(train_cfg)
    compute = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    quantisation = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
        llm_int8_skip_modules=NOT_QUANTISED,
    )
    return {"quantization_config": quantisation, "device_map": {"": PartialState().device}}


def with_adapters(model, train_cfg, task_type: str = "CAUSAL_LM"):
    """LoRA adapters on ``model``; a 4-bit base is first made trainable as PEFT prescribes (norms in fp32, input
    gradients on; its own checkpointing only where train.gradient_checkpointing asks for it)."""
    if train_cfg.method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train_cfg.gradient_checkpointing)
        _without_cpu_repacking(model)
    return apply_lora(model, train_cfg.lora, task_type)


def _without_cpu_repacking(model) -> None:
    """Keep bitsandbytes' 4-bit layers on their ordinary path while they train. On a CPU with AVX-512 BF16,
    bitsandbytes 0.50 repacks a layer's weights for its inference kernel at every forward without gradients (each
    validation). In that layout a training forward passes no gradient to the layer's input (so adapters below it
    would stop learning; only the checkpoint save after each validation, which unpacks, hides this), and a layer
    narrower than the 64-weight quantisation block fails outright. Measured on an AMX Xeon, 2026-12-05."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def apply_lora(model, lora_cfg, task_type: str = "CAUSAL_LM"):
    """Wrap ``model`` with trainable LoRA adapters; the base weights stay frozen. With task_type SEQ_CLS, PEFT
    also trains the classification head ("score" / "classifier") in full and saves it with the adapter."""
    config = PeftLoraConfig(
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=lora_cfg.target_modules,
        task_type=task_type,
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # e.g. target modules that the model does not have
        raise TunewiseError(f"train.lora.target_modules: {str(exc).splitlines()[0]}") from None


class AdapterInputsUncast(TrainerCallback):
    """While a mixed-precision training runs, PEFT's adapters take their input as it comes instead of casting it to
    their fp32 weights' dtype: autocast computes the adapter's matmuls in bf16 (or fp16) anyway, so PEFT's cast
    only copied every adapted layer's input to fp32 and autocast copied it back, forward and backward. The weights
    and their gradients and optimizer state stay fp32. On at the start of training (when it trains in bf16 or
    fp16), restored at its end, so a model used outside autocast afterwards casts as PEFT does.
    Measured (benchmarks/train_throughput.py --arms tunewise, AMX Xeon, bf16, 2026-12-05): 424.5 -> 462.1 real
    tokens/s, the same validation loss (1.1560)."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._set(model, not (args.bf16 or args.fp16))

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._set(model, True)

    @staticmethod
    def _set(model, enabled: bool) -> None:
        for module in model.modules() if model is not None else ():
            if hasattr(module, "cast_input_dtype_enabled"):
                module.cast_input_dtype_enabled = enabled
