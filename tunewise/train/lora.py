"""LoRA adapters through PEFT."""

from __future__ import annotations

from peft import LoraConfig as PeftLoraConfig
from peft import get_peft_model

from tunewise.errors import TunewiseError


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
