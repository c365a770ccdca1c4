"""What the machine computes natively, which precision a run trains and evaluates in, and why.

Native means the hardware has instructions for the format, not that a library accepts it:
- a CPU computes bf16 natively with AVX-512 BF16 or AMX-BF16 (x86) or the BF16 extension (Arm). oneDNN's own
  check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) is true on any AVX-512 CPU, including those that emulate
  bf16 slowly, so the CPU's flags are read instead;
- a CUDA GPU computes bf16 natively from compute capability 8.0 (Ampere) on, and fp16 on tensor cores from 7.0
  (Volta, Turing). ``torch.cuda.is_bf16_supported()`` is also true on cards that emulate bf16 (T4, V100).

``auto`` trains in bf16 where it is native, in fp16 (with a gradient scaler) on a GPU that has fp16 but not bf16,
and in fp32 otherwise. Mixed precision keeps fp32 master weights and optimizer state for every trainable tensor
(autocast computes in the low precision, the weights stay fp32) and computes a classifier's head, hence its logits
and loss, in fp32 (`head_in_fp32`).
"""

from __future__ import annotations

import functools
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

CPU_BF16_FLAGS = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX-BF16", "bf16": "Arm BF16"}
BF16_CAPABILITY = (8, 0)
FP16_CAPABILITY = (7, 0)
HEAD_NAMES = ("score", "classifier")  # a sequence classifier's output layer (transformers' and PEFT's names)


@dataclass(frozen=True)
class Machine:
    """The device a run computes on and the low precisions it has instructions for."""

    device: str  # "cpu" or "cuda"
    name: str  # CPU model name or GPU name
    native_bf16: bool
    native_fp16: bool
    why: str  # which flag or capability decided it, in words

    def as_dict(self) -> dict:
        return asdict(self)


def _cpu_info(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU's model name and its feature flags (x86 'flags', Arm 'Features'); empty where unreadable."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return name, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and value.strip():
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return name, flags


@functools.cache
def machine(device_type: str | None = None) -> Machine:
    """The machine this process computes on (CUDA when a GPU is visible, else the CPU)."""
    import torch

    device_type = device_type or ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type == "cuda":
        return cuda_machine(torch.cuda.get_device_name(), torch.cuda.get_device_capability())
    return cpu_machine(*_cpu_info())


def cuda_machine(name: str, capability: tuple[int, int]) -> Machine:
    """A GPU of this compute capability: bf16 from 8.0 (Ampere) on, fp16 tensor cores from 7.0."""
    bf16, fp16 = tuple(capability) >= BF16_CAPABILITY, tuple(capability) >= FP16_CAPABILITY
    level = "bf16 and fp16" if bf16 else "fp16, not bf16" if fp16 else "neither bf16 nor fp16"
    return Machine("cuda", name, bf16, fp16, f"compute capability {capability[0]}.{capability[1]}: {level}")


def cpu_machine(name: str, flags: set[str]) -> Machine:
    """A CPU with these feature flags: bf16 is native with AVX-512 BF16, AMX-BF16 or Arm's BF16 extension."""
    found = [label for flag, label in CPU_BF16_FLAGS.items() if flag in flags]
    if found:
        return Machine("cpu", name, True, False, f"{' and '.join(found)} in the CPU flags")
    why = "no AVX-512 BF16, AMX-BF16 or Arm BF16 in the CPU flags: bf16 is emulated"
    return Machine("cpu", name, False, False, why)


def resolve_precision(precision: str, device_type: str | None = None, found: Machine | None = None) -> str:
    """The precision a training runs in: 'auto' becomes the fastest one the machine computes natively."""
    from tunewise.errors import TunewiseError

    found = found or machine(device_type)
    if precision == "fp16" and found.device != "cuda":
        raise TunewiseError("train.precision: fp16 needs a CUDA GPU (use fp32 or bf16 on a CPU)")
    if precision != "auto":
        return precision
    return "bf16" if found.native_bf16 else "fp16" if found.native_fp16 else "fp32"


# Tasks whose evaluation `auto` keeps in fp32 wherever the hardware has bf16, and why (found 2026-12-04, DPO in
# benchmarks/precision.py: validation losses equal to 4 decimals, test preference accuracy 0.475 in fp32 and 0.556
# with the same training evaluated in bf16).
FP32_EVALUATION = {
    "preference": "preference accuracy compares DPO's implicit rewards, differences of four summed "
    "log-likelihoods of ~100 tokens each, which bf16 weights round by more than a short training moves them",
}


def resolve_eval_precision(
    precision: str, device_type: str | None = None, found: Machine | None = None, task: str | None = None
) -> str:
    """The precision an evaluation runs in: 'auto' is bf16 where native, else fp32 (weights are cast, not
    autocast, and fp16 weights without a scaler overflow on some models); fp32 for a task of FP32_EVALUATION."""
    if precision != "auto":
        return precision
    if task in FP32_EVALUATION:
        return "fp32"
    return "bf16" if (found or machine(device_type)).native_bf16 else "fp32"


def precision_facts(train_precision: str, eval_precision: str, task: str | None = None) -> dict:
    """What a run records: the machine, and the precisions chosen with the reason."""
    found = machine()
    train, evaluation = resolve_precision(train_precision), resolve_eval_precision(eval_precision, task=task)
    if train_precision != "auto":
        reason = f"train.precision: {train_precision} (set in the config)"
    elif train == "fp32":
        reason = f"auto: {found.why}, so fp32"
    else:
        reason = f"auto: {found.why}, so {train} mixed precision (fp32 master weights, fp32 logits)"
    if eval_precision == "auto" and task in FP32_EVALUATION and found.native_bf16:
        reason += f"; evaluates in fp32: {FP32_EVALUATION[task]}"
    return {"machine": found.as_dict(), "train": train, "eval": evaluation, "reason": reason}


class _Fp32Forward:
    """A head's forward run outside autocast, on its input cast to the head's own precision: fp32 while it trains
    (its trainable weights are fp32 master weights), so its logits are computed and kept in fp32; the evaluation's
    dtype once the whole model has been cast for evaluation (select's probe casts the trained model to bf16)."""

    def __init__(self, head, forward):
        self.head, self.forward = head, forward

    def __call__(self, hidden, *args, **kwargs):
        import torch

        dtypes = {parameter.dtype for parameter in self.head.parameters()}  # PEFT's wrapper: a frozen copy too
        dtype = torch.float32 if torch.float32 in dtypes else dtypes.pop()
        with torch.autocast(hidden.device.type, enabled=False):
            return self.forward(hidden.to(dtype), *args, **kwargs)


def head_in_fp32(model):
    """Make a sequence classifier's head (``score`` / ``classifier``, trainable and fp32) compute in fp32 under
    autocast, so the logits and the loss are fp32 whatever the training precision; outside autocast it changes
    nothing. A causal LM's vocabulary projection is left to autocast (its frozen weight may be bf16, and upcasting
    it every step costs time no measurement here has justified); its loss is computed from fp32 logits
    (`tunewise.train.batching.answer_loss`, TRL's DPO loss). Returns the model."""
    heads = [
        (name, module)
        for name, module in model.named_modules()
        if name.rsplit(".", 1)[-1] in HEAD_NAMES and "original_module" not in name and "modules_to_save" not in name
    ]
    if heads:
        head = min(heads, key=lambda item: item[0].count("."))[1]  # PEFT's wrapper, not the copies inside it
        if not isinstance(head.forward, _Fp32Forward):
            head.forward = _Fp32Forward(head, head.forward)
    return model
