"""Models: the registry of base models, preparation (GGUF → cached safetensors), loading for evaluation (with the
dtype rule) and prompt rendering."""

from tunewise.models.registry import MODELS, list_models, prepare_model, resolve_model

__all__ = ["MODELS", "list_models", "prepare_model", "resolve_model"]
