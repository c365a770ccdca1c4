"""Training: the training stage of a run (stage.py); supervised fine-tuning, LoRA or full (sft.py), and DPO
(dpo.py), under the same guards: validation loss, early stopping, the best checkpoint kept, resume."""

from tunewise.train.sft import TrainResult, fine_tune

__all__ = ["TrainResult", "fine_tune"]
