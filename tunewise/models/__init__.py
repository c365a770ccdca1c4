"""Models: the registry of base models, preparation (GGUF → cached safetensors) and prompt rendering."""

from tunewise.models.registry import REGISTRY, list_models, prepare_model, resolve_model

__all__ = ["REGISTRY", "list_models", "prepare_model", "resolve_model"]
