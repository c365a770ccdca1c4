"""Training: supervised fine-tuning (LoRA or full) with validation discipline; see sft.py."""

from tunewise.train.sft import TrainResult, fine_tune

__all__ = ["TrainResult", "fine_tune"]
