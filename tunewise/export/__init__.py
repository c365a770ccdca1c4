"""`tunewise export`: a finished run's fine-tuned model as files another program loads.

- ``merged``: a LoRA adapter merged into the base (or a head's full weights) saved as one safetensors folder with
  its tokenizer, chat template and a model card (``merged.py``, ``card.py``);
- every export is loaded back from the files it wrote and scored on test rows against the run's own predictions;
  an agreement under the tolerance is a failed check and nothing is put in place (``verify.py``).
"""
