"""A memory plan before training: the peak memory a run's training needs, part by part (weights, trainable
master weights, gradients, optimizer state, activations, logits, the runtime), for its model, method, precision,
batch and longest batch of tokens, with and without gradient checkpointing; and which methods fit the device.

The counts come from the model's own config, built on the meta device (no weights loaded), and the run's
tokenised rows. Activations are counted per token and decoder layer from what a layer keeps for its backward pass
(https://arxiv.org/abs/2205.05198 counts the same for GPT layers). Every run records its measured peak
(train.peak_memory in the summary) so that the plan can be checked against it: benchmarks/memory_plan.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field

GIB = 1024**3
METHODS = ("full", "lora", "qlora")
# On a CPU, the resident set exceeds what the tensors hold: glibc keeps freed activation and gradient buffers mapped
# for reuse (with a fixed MALLOC_MMAP_THRESHOLD_ it returns them, and SmolLM2's checkpointed DialogSum step fell
# from 4,891 to 1,641 MiB, but ran 75 % slower: 53 s against 30 s). Modelled as a share of the activations a step
# would keep without checkpointing, measured once on calibration settings left out of the reported figures
# (SmolLM2 LoRA, DialogSum, 4 x 384 tokens, fp32, 2026-12-03: 5,825 MiB resident without checkpointing, 2,921 MiB
# with it, over 2,601 MiB of such activations): benchmarks/memory_plan.py reports the other settings against it.
# That gradients and optimizer state reuse the retained buffers was added after full fine-tuning's first figure
# (+33 %; the constants were not refitted): docs/memory.md.
CPU_RETAINED = {False: 0.69, True: 0.49}  # by gradient checkpointing
# train.batch_size: auto leaves this share of the device free: the plan is checked to within 25 % of measured peaks
# (benchmarks/memory_plan.py), and a GPU's allocator fragments
AUTO_BATCH_ROOM = 0.25
OPTIMIZER_BYTES = {"adamw": 8, "adamw_8bit": 2, "paged_adamw_8bit": 2}  # state bytes per trainable parameter


@dataclass
class Shape:
    """What the plan needs to know of a model, read from its config on the meta device."""

    parameters: int
    linear: list[tuple[int, int]]  # (in, out) of the linear layers LoRA adapts (all but the output layer)
    embedding: int  # parameters of the input embedding and a separate output layer
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int


@dataclass
class Plan:
    method: str
    precision: str
    checkpointing: bool
    batch: int
    tokens: int  # the longest batch's tokens per row
    logit_tokens: int  # positions whose logits over the vocabulary a step computes, per row
    parts: dict[str, int] = field(default_factory=dict)  # bytes

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def as_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def model_shape(model_path: str, objective: str, labels: int = 2) -> Shape:
    """Count a model's parameters and layers without loading its weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    from tunewise.models.registry import code_options

    config = AutoConfig.from_pretrained(model_path, **code_options(model_path))
    text = getattr(config, "text_config", None) or config
    if objective == "classify":
        config.num_labels = labels
    loader = AutoModelForSequenceClassification if objective == "classify" else AutoModelForCausalLM
    with torch.device("meta"):
        model = loader.from_config(config, **code_options(model_path))
    output = model.get_output_embeddings() if objective != "classify" else None
    linear = [
        (module.in_features, module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not output and not name.endswith(("score", "classifier"))
    ]
    embedding = model.get_input_embeddings().weight.numel()
    if output is not None and output.weight is not model.get_input_embeddings().weight:
        embedding += output.weight.numel()
    return Shape(
        parameters=sum(p.numel() for p in model.parameters()),
        linear=linear,
        embedding=embedding,
        hidden=text.hidden_size,
        intermediate=getattr(text, "intermediate_size", 4 * text.hidden_size),
        layers=text.num_hidden_layers,
        heads=text.num_attention_heads,
        kv_heads=getattr(text, "num_key_value_heads", None) or text.num_attention_heads,
        vocab=text.vocab_size,
    )


def estimate(
    shape: Shape,
    method: str,
    precision: str,
    batch: int,
    tokens: int,
    logit_tokens: int,
    checkpointing: bool,
    lora_rank: int = 16,
    optimizer: str = "adamw",
    labels: int = 0,
    preference: bool = False,
    attention: str = "eager",
    runtime: int = 0,
) -> Plan:
    """The peak bytes of one training step. ``tokens``: the longest batch's length; ``logit_tokens``: the positions
    per row whose vocabulary logits the loss reads (answer-aligned batches keep only the answer's); ``labels``: a
    classification head's outputs (then no vocabulary logits); ``preference``: DPO (chosen and rejected rows,
    and a frozen reference model where the method trains every weight)."""
    half = precision in ("bf16", "fp16")
    act_bytes = 2 if half else 4
    adapted = sum(i * o for i, o in shape.linear)
    if method == "full":
        trainable = shape.parameters
        weights = 4 * shape.parameters  # fp32 master weights; autocast casts per operation
    else:
        trainable = sum(lora_rank * (i + o) for i, o in shape.linear) + shape.hidden * labels
        frozen = shape.parameters - shape.hidden * labels
        base = 2 if half else 4
        if method == "qlora":  # NF4: half a byte a weight, plus one fp32 absmax per 64 weights (bitsandbytes)
            weights = int(adapted * (0.5 + 4 / 64)) + base * (frozen - adapted)
        else:
            weights = base * frozen
        weights += 4 * trainable  # adapters and head in fp32
    parts = {"weights": weights}
    if preference and method == "full":
        parts["reference model"] = (2 if half else 4) * shape.parameters
    parts["gradients"] = 4 * trainable
    parts["optimizer state"] = OPTIMIZER_BYTES.get(optimizer, 8) * trainable if optimizer != "adafactor" else 0
    rows = batch * (2 if preference else 1)
    per_layer = _layer_activations(shape, tokens, method != "full", lora_rank, attention)  # elements per token
    every_layer = rows * tokens * (shape.layers + 1) * per_layer * act_bytes  # and one layer's gradients at a time
    if checkpointing:  # each layer's input is kept; one layer's activations are rebuilt at a time
        parts["activations"] = rows * tokens * (shape.layers * shape.hidden + 2 * per_layer) * act_bytes
    else:
        parts["activations"] = every_layer
    if not labels:  # fp32 logits, their log-softmax and its gradient over the vocabulary
        parts["logits"] = rows * logit_tokens * shape.vocab * 4 * 3
    if runtime:  # a CPU: the libraries' memory, and what the allocator keeps of freed buffers
        parts["runtime"] = runtime
        # the gradients (made in the backward pass) and the optimizer state (made after it) reuse those buffers
        retained = CPU_RETAINED[checkpointing] * every_layer - parts["gradients"] - parts["optimizer state"]
        parts["freed, still resident"] = int(max(0, retained))
    return Plan(method, precision, checkpointing, batch, tokens, logit_tokens, parts)


def _layer_activations(shape: Shape, tokens: int, adapters: bool, rank: int, attention: str) -> int:
    """Elements a Llama-style decoder layer keeps per token for its backward pass: both norms' inputs, outputs and
    scales (4 H + 2), the rotated queries and the keys and values repeated to every head (3 H), the attention
    output (H), the gated MLP's four intermediate tensors (4 I), with eager attention the probabilities of every
    head over the row; each adapter's down-projection (rank) when the base is frozen, and the norms' unscaled
    outputs (2 H) when their weights train. Exactly what autograd saves (saved_tensors_hooks; for SmolLM2 and the
    test model, tests/train/test_plan.py)."""
    kept = 8 * shape.hidden + 4 * shape.intermediate + 2
    if attention == "eager":
        kept += shape.heads * tokens
    kept += 7 * rank if adapters else 2 * shape.hidden
    return kept


def runtime_bytes() -> int:
    """On a CPU, the resident memory of the libraries a training process loads (torch, transformers, PEFT),
    measured in this process once they are imported; a GPU's allocator does not count them."""
    import peft  # noqa: F401 - loaded for the measurement
    import transformers  # noqa: F401

    return peak_memory_bytes() or 0


def peak_memory_bytes() -> int | None:
    """This process's peak so far: GPU memory allocated by torch on CUDA, the resident set size on a CPU.

    Candidates are measured in a fresh process each, so the peak is theirs (plus the Python and torch runtime,
    about 0.5 GB on a CPU)."""
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    if sys.platform.startswith("linux"):
        return _linux_high_water_mark()
    try:
        import resource
    except ImportError:  # Windows
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # macOS reports bytes


def _linux_high_water_mark() -> int:
    """VmHWM: the peak resident set of this process image only. Linux carries ``ru_maxrss`` over fork and exec,
    so a spawned child of a 6 GB parent would report the parent's 6 GB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("/proc/self/status has no VmHWM line")


def device_memory() -> tuple[str, int]:
    """The training device and its memory in bytes (a GPU's total memory, or the machine's RAM)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory
    return "cpu", os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def row_lengths(cfg, renderer, rows: list[dict], task: str) -> tuple[int, int]:
    """The longest tokenised row (capped at model.max_length) and the longest answer, in tokens, as training
    encodes them."""
    from tunewise.data.formats import classifier_text, to_conversation
    from tunewise.models.prompts import classifier_ids, encode_example

    limit, tokenizer = cfg.model.max_length, renderer.tokenizer
    if cfg.train.objective_for(task) == "classify":
        texts = [classifier_text(r, cfg.model.instruction) for r in rows]
        return max((len(classifier_ids(tokenizer, text, limit)[0]) for text in texts), default=1), 1
    if task == "preference":  # the longer answer of each pair after its prompt
        pairs = [
            (
                len(renderer.prompt_ids([{"role": "user", "content": r["prompt"]}])),
                max(len(tokenizer(r[side])["input_ids"]) for side in ("chosen", "rejected")),
            )
            for r in rows
        ]
        return min(limit, max((p + a for p, a in pairs), default=1)), min(limit, max((a for _, a in pairs), default=1))
    longest = answer = 1
    for row in rows:
        messages, target = to_conversation(row, task, cfg.model.instruction, cfg.data.train_on)
        example, _ = encode_example(renderer, messages, target, limit)
        longest = max(longest, len(example["input_ids"]))
        labelled = [i for i, label in enumerate(example["labels"]) if label != -100]
        answer = max(answer, (labelled[-1] - labelled[0] + 1) if labelled else 1)
    return longest, answer


def plan_run(cfg, model_path: str, renderer, splits: dict, task: str) -> dict:
    """The plan of a run's training on this device: its own setting, and every method with and without gradient
    checkpointing, each with whether it fits."""
    from tunewise.data.split import class_labels
    from tunewise.models.precision import resolve_precision
    from tunewise.models.registry import is_encoder

    train = cfg.train
    objective = "classify" if is_encoder(cfg.model.name) else train.objective_for(task)
    labels = len(class_labels(cfg, splits)) if objective == "classify" else 0
    shape = model_shape(model_path, objective, max(labels, 2))
    tokens, answer = row_lengths(cfg, renderer, splits["train"], task)
    aligned = train.batching == "aligned" and task != "preference"
    precision = resolve_precision(train.precision)
    device, memory = device_memory()
    runtime = runtime_bytes() if device == "cpu" else 0
    common = {
        "shape": shape,
        "precision": precision,
        "batch": train.fixed_batch[0],
        "tokens": tokens,
        "logit_tokens": (answer + 1) if aligned else tokens,
        "lora_rank": train.lora.r,
        "optimizer": (train.optimizer or "adamw").replace("adamw_torch_fused", "adamw").replace("adamw_torch", "adamw"),
        "labels": labels,
        "preference": task == "preference",
        "attention": "sdpa"
        if train.attention == "auto" and device != "cpu"
        else train.attention.replace("auto", "eager"),
        "runtime": runtime,
    }
    batching = None
    if train.batch_size == "auto":
        batching = auto_batch(common, train.method, train.gradient_checkpointing, train.fixed_batch, memory)
        common["batch"] = batching["batch_size"]
    chosen = estimate(method=train.method, checkpointing=train.gradient_checkpointing, **common)
    options = [
        {**estimate(method=method, checkpointing=checkpointing, **common).as_dict(), "fits": None}
        for method in METHODS
        for checkpointing in (False, True)
    ]
    for option in options:
        option["fits"] = option["total"] <= memory
    return {
        "device": device,
        "device_memory": memory,
        "model": cfg.model.name,
        "parameters": shape.parameters,
        "plan": {**chosen.as_dict(), "fits": chosen.total <= memory},
        "options": options,
        "auto_batch": batching,
    }


def auto_batch(common: dict, method: str, checkpointing: bool, fixed: tuple[int, int], memory: int) -> dict:
    """train.batch_size: auto. The effective batch stays what the config sets (``fixed``: AUTO_BATCH examples x
    train.gradient_accumulation); of the micro-batches that divide it (powers of two), the largest whose plan
    leaves AUTO_BATCH_ROOM of the device free, the rest made up by gradient accumulation. A device too small for
    even one row gets one row a step (and the memory check then refuses the run)."""
    effective = fixed[0] * fixed[1]
    sizes = [size for size in (2**k for k in range(effective.bit_length(), -1, -1)) if effective % size == 0]
    for size in sizes:
        total = estimate(method=method, checkpointing=checkpointing, **{**common, "batch": size}).total
        if total <= (1 - AUTO_BATCH_ROOM) * memory:
            break
    return {
        "batch_size": size,
        "gradient_accumulation": effective // size,
        "effective_batch": effective,
        "planned_peak": total,
        "room": AUTO_BATCH_ROOM,
    }


def with_batch(cfg, found: dict | None):
    """The config with train.batch_size: auto replaced by what the plan chose (unchanged when it was a number, or
    when there is no plan: then auto trains at its effective batch's own size)."""
    if cfg.train.batch_size != "auto":
        return cfg
    size, steps = (
        (found["auto_batch"]["batch_size"], found["auto_batch"]["gradient_accumulation"])
        if found and found.get("auto_batch")
        else cfg.train.fixed_batch
    )
    return cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"batch_size": size, "gradient_accumulation": steps})}
    )


def check_fits(found: dict) -> None:
    """Refuse a training the plan says cannot fit, naming the settings that would."""
    from tunewise.errors import TunewiseError

    plan = found["plan"]
    if plan["fits"]:
        return
    fitting = [o for o in found["options"] if o["fits"]]
    instead = min(fitting, key=lambda o: o["total"], default=None)
    hint = (
        f"train.method={instead['method']} train.gradient_checkpointing={str(instead['checkpointing']).lower()} "
        f"({instead['total'] / GIB:.1f} GiB) would fit"
        if instead
        else "no method fits: a smaller model, train.batch_size or model.max_length would"
    )
    raise TunewiseError(
        f"memory plan: train.method={plan['method']} needs about {plan['total'] / GIB:.1f} GiB for training, "
        f"{found['device']} has {found['device_memory'] / GIB:.1f} GiB; {hint} (train.check_memory=false to try anyway)"
    )
