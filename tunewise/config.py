"""The one config object. Every default lives here, with its description; `tunewise init` writes them out.

A config is YAML. Unknown keys and wrong types are errors that name the file, line and key, and all of
them are reported together. Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from tunewise.errors import TunewiseError

TaskName = Literal["auto", "classification", "completion", "chat", "preference"]
Scheduler = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "cosine_with_min_lr",
    "warmup_stable_decay",
]


class _Section(BaseModel):
    # Bools and ints are strict ("yes" is not true, 8.5 is not a batch size); floats still accept "2e-4",
    # which YAML 1.1 reads as a string.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# every field a task record can have (tunewise.data.load.TASK_FIELDS says which task has which)
TASK_FIELD_NAMES = ("text", "label", "prompt", "completion", "messages", "chosen", "rejected")


class DataConfig(_Section):
    """Where the examples come from and what shape they have."""

    path: str | None = Field(
        None, description="JSONL, JSON (array or lines), CSV or Parquet file, or a `datasets` save_to_disk folder."
    )
    task: TaskName = Field(
        "auto",
        description="classification (text, label), completion (prompt, completion), chat (messages) or "
        "preference (prompt, chosen, rejected); auto infers it from the columns.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="Map a task field to a column of the file, e.g. {label: category}."
    )
    test_columns: dict[str, str] | None = Field(
        None, description="Column mapping for the test file when it differs, e.g. {completion: summary1}."
    )
    labels: list[str] | None = Field(None, description="Label set for classification; default: labels seen.")
    test_path: str | None = Field(
        None, description="A separate held-out test file; then the data file is split into train/validation only."
    )
    train_on: Literal["all_assistant", "last_assistant"] = Field(
        "all_assistant",
        description="Chat data: which assistant turns carry loss. all_assistant: every one (each is what the model "
        "should say after the turns before it); last_assistant: only the final answer (the earlier turns are "
        "context).",
    )
    pool: str | None = Field(
        None,
        description="An unlabelled pool (JSONL, JSON, CSV or Parquet of inputs, no label) that `tunewise pool select` "
        "picks rows to label from; a label column in it is warned about and not used.",
    )
    skip_invalid: StrictBool = Field(False, description="Skip invalid rows (each one reported) instead of stopping.")
    max_rows: StrictInt | None = Field(None, ge=1, description="Use only the first N rows of the data file.")
    label_case: Literal["keep", "lower"] = Field(
        "keep",
        description="keep: labels as written (labels differing only in case or spaces are warned about); lower: "
        "lower-case and strip every label (and data.labels), so 'Card_Arrival ' and 'card_arrival' are one class.",
    )

    @field_validator("columns", "test_columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str] | None) -> dict[str, str] | None:
        unknown = sorted(set(columns or {}) - set(TASK_FIELD_NAMES))
        if unknown:
            raise ValueError(f"unknown task field '{unknown[0]}' (fields: {', '.join(TASK_FIELD_NAMES)})")
        return columns


class SplitConfig(_Section):
    """Held-out fractions. Identical inputs always land in the same split."""

    validation: float = Field(0.15, gt=0, lt=1, description="Fraction of rows for validation (early stopping).")
    test: float = Field(0.15, ge=0, lt=1, description="Fraction of rows for the test split (ignored with test_path).")
    allow_small_holdout: StrictBool = Field(
        False, description="Accept validation < 15 % or test < 10 % (refused by default: the scores get noisy)."
    )
    group_near_duplicates: StrictBool = Field(True, description="Keep near-duplicate clusters inside one split.")
    group_semantic_duplicates: StrictBool = Field(
        False, description="Keep semantic-duplicate clusters inside one split too (computes sentence embeddings)."
    )

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError("validation + test must leave at least 10% of rows for training")
        return self


class ModelConfig(_Section):
    """The base model and how examples are turned into prompts."""

    name: str = Field(
        "smollm2-135m-instruct",
        description="A registry name (see `tunewise models`), a local Hugging Face model folder, a hub id, or auto: "
        "the pick of `tunewise select` among select.candidates.",
    )
    cache_dir: str | None = Field(
        None,
        description="Where prepared (dequantised) models are cached; default $TUNEWISE_CACHE or ~/.cache/tunewise.",
    )
    revision: str | None = Field(
        None,
        description="A hub id's branch, tag or commit to load (default: its main branch). The files are fetched once "
        "into the Hugging Face cache; the run records the commit they came from.",
    )
    trust_remote_code: StrictBool = Field(
        False,
        description="Run the Python code a model folder or hub repository ships (its config.json's auto_map). Off: "
        "such a model is refused in one line naming the code; read it before turning this on.",
    )
    prompt_format: Literal["auto", "chat", "plain"] = Field(
        "auto", description="chat uses the model's chat template; plain a '### Input/### Response' layout."
    )
    system_prompt: str | None = Field(None, description="System message (chat format) or header (plain format).")
    chat_template: str | None = Field(
        None,
        description="A chat template that replaces the tokenizer's own: a name (chatml, llama-3, gemma), a Jinja "
        "file, or the template itself; training, evaluation and the exported model all use it. A sample chat is "
        "rendered first: a template that does not mark where the assistant's answer starts is refused.",
    )
    instruction: str | None = Field(None, description="Text put before each input, e.g. 'Classify the query:'.")
    max_length: StrictInt = Field(
        256, ge=8, description="Longest tokenised example; longer prompts are cut from the left."
    )


class LoraConfig(_Section):
    r: StrictInt = Field(16, ge=1, description="LoRA rank.")
    alpha: StrictInt = Field(32, ge=1, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Dropout on the LoRA path (PEFT's default, 0: on a CPU its random masks cost a third of each "
        "step; validation-based early stopping is the main guard against overfitting).",
    )
    target_modules: list[str] | str = Field("all-linear", description="Modules to adapt; 'all-linear' or a list.")


AUTO_BATCH = 8  # train.batch_size: auto keeps an effective batch of this x train.gradient_accumulation


class EncoderRecipe(_Section):
    """How a registry encoder (e.g. minilm-l6) is fine-tuned: every weight, the head started from a logistic
    regression on the frozen embeddings, at a learning rate that suits full fine-tuning of a small encoder. The
    other train settings (validation cadence, early stopping, precision; train.max_steps as a cap) apply as they
    are."""

    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate of the encoder's full fine-tuning.")
    epochs: float = Field(2.0, gt=0, description="Maximum number of passes over the training split.")
    batch_size: StrictInt = Field(32, ge=1, description="Examples per device per step.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    linear_probe_start: StrictBool = Field(
        True, description="Start the head from a logistic regression fitted on the frozen embeddings."
    )


class TrainConfig(_Section):
    """Fine-tuning. Validation loss is measured every `eval_steps`; the best checkpoint is the one kept."""

    method: Literal["lora", "qlora", "full"] = Field(
        "lora",
        description="lora (PEFT adapter), qlora (the adapter over a 4-bit NF4 base: bitsandbytes, the qlora extra) "
        "or full fine-tuning.",
    )
    objective: Literal["auto", "classify", "generate"] = Field(
        "auto",
        description="classify: a classification head over the last hidden state (one softmax over the classes, one "
        "forward pass per row); generate: the answer as text, token by token; auto: classify for classification "
        "data, generate otherwise.",
    )
    epochs: float = Field(3.0, gt=0, description="Maximum number of passes over the training split.")
    max_steps: StrictInt | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides epochs)."
    )
    batch_size: Literal["auto"] | StrictInt = Field(
        8,
        description="Examples per device per step; auto: the largest that the memory plan fits on this device "
        f"with room to spare, gradient accumulation making up the same effective batch ({AUTO_BATCH} x "
        "train.gradient_accumulation), so the optimisation is the same whatever the device.",
    )
    gradient_accumulation: StrictInt = Field(1, ge=1, description="Steps accumulated per optimizer update.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (2e-4 suits LoRA; use ~2e-5 for full).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps spent warming up.")
    lr_scheduler: Scheduler = Field("linear", description="A transformers learning-rate schedule.")
    eval_steps: StrictInt = Field(50, ge=1, description="Measure validation loss (and maybe stop) every N steps.")
    validation_rows: StrictInt | None = Field(
        None, ge=1, description="Measure validation loss on a seeded sample of at most N validation rows (faster)."
    )
    logging_steps: StrictInt = Field(10, ge=1, description="Log training loss every N steps.")
    early_stopping: StrictBool = Field(True, description="Stop when validation loss stops improving.")
    patience: StrictInt = Field(3, ge=1, description="Evaluations without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest decrease in validation loss that counts as improvement.")
    gradient_checkpointing: StrictBool = Field(
        False,
        description="Recompute activations in the backward pass instead of keeping them: less memory for a long "
        "sequence or a big batch, about a third more time (transformers' activation checkpointing).",
    )
    check_memory: StrictBool = Field(
        True,
        description="Refuse a training that the memory plan (`tunewise plan`) says cannot fit in the device's "
        "memory, naming the method that would.",
    )
    liger: StrictBool = Field(
        False,
        description="Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy) through "
        "transformers' use_liger_kernel: less memory and faster steps on a CUDA GPU with liger-kernel installed.",
    )
    optimizer: Literal["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "adafactor"] | None = (
        Field(
            None,
            description="The Trainer's optimizer (default: transformers' AdamW); the 8-bit and paged ones need "
            "bitsandbytes, adafactor keeps less state.",
        )
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 where the hardware computes it natively (CUDA, AVX-512 BF16 CPUs), fp16 on a GPU "
        "with fp16 but not bf16, fp32 otherwise. With LoRA the frozen base weights are held in bf16 or fp16; "
        "trainable weights always stay fp32.",
    )
    batching: Literal["aligned", "packed", "padded"] = Field(
        "aligned",
        description="aligned: length-grouped, left-padded batches, so every answer ends at the last position and "
        "the vocabulary is scored only there; packed: one padding-free row per batch (attention kept inside each "
        "example), also answer-only; padded: plain right-padded batches scored at every position.",
    )
    group_by_length: StrictBool = Field(
        True, description="Batch examples of similar length together (less padding; not used by packed)."
    )
    attention: Literal["auto", "eager", "sdpa", "flash_attention_2"] = Field(
        "auto",
        description="Attention kernel; auto: eager on a CPU (measured faster for rows of 40-340 tokens), "
        "sdpa on a GPU; flash_attention_2 on a CUDA GPU with the flash-attn package installed.",
    )
    neftune_alpha: float | None = Field(
        None, gt=0, description="NEFTune noise on input embeddings (e.g. 5); off by default."
    )
    dpo_beta: float = Field(
        0.1, gt=0, description="DPO's beta (preference data only): how far the policy may move from the base."
    )
    report_to: list[str] = Field(default_factory=list, description="Trackers, e.g. [tensorboard, mlflow, wandb].")
    lora: LoraConfig = Field(default_factory=LoraConfig)
    encoder: EncoderRecipe = Field(default_factory=EncoderRecipe)

    @field_validator("batch_size")
    @classmethod
    def _some_rows(cls, batch_size):
        if batch_size != "auto" and batch_size < 1:
            raise ValueError(f"must be auto or at least 1, got {batch_size}")
        return batch_size

    @property
    def fixed_batch(self) -> tuple[int, int]:
        """(examples per step, steps accumulated) as set, with auto at its effective batch's own size: what the
        selection's probe and projection use before the memory plan has resolved auto for the run's device."""
        if self.batch_size == "auto":
            return AUTO_BATCH, self.gradient_accumulation
        return self.batch_size, self.gradient_accumulation

    @property
    def adapters(self) -> bool:
        """Whether the training keeps the base frozen and trains LoRA adapters (lora, qlora)."""
        return self.method in ("lora", "qlora")

    def for_encoder(self) -> TrainConfig:
        """These settings with the encoder recipe in place of the LLM's: full fine-tuning, its own rate and size."""
        recipe = self.encoder.model_dump(exclude={"linear_probe_start"})
        return self.model_copy(update={"method": "full", "objective": "classify", **recipe})

    def objective_for(self, task: str) -> str:
        """The objective this config trains ``task`` data with; classify needs classification data."""
        if self.objective == "auto":
            return "classify" if task == "classification" else "generate"
        if self.objective == "classify" and task != "classification":
            raise TunewiseError(f"config: train.objective: classify needs classification data (this is {task} data)")
        return self.objective


class JudgeConfig(_Section):
    """A local model that compares base and fine-tuned answers pairwise, in both orders (generation tasks)."""

    model: str = Field(description="Registry name, model folder or hub id of the judge.")
    rubric: str | None = Field(None, description="What makes an answer better; default: relevance, correctness, use.")
    max_rows: StrictInt | None = Field(100, ge=1, description="Judge at most this many test rows.")


class EvalConfig(_Section):
    """Evaluation of the base and the fine-tuned model on the test split."""

    batch_size: StrictInt = Field(64, ge=1, description="Rows per batch.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 where the hardware computes it natively (CUDA, AVX-512 BF16 CPUs), else fp32."
    )
    max_new_tokens: StrictInt = Field(64, ge=1, description="Longest generated answer (generation tasks).")
    max_rows: StrictInt | None = Field(
        None,
        ge=1,
        description="Evaluate a seeded random sample of N test rows (file order kept; the first N of a file sorted "
        "by label would cover a few labels only).",
    )
    compare_base: StrictBool = Field(True, description="Also evaluate the untuned base model, side by side.")
    baselines: list[Literal["majority", "embedding_lr", "retrieval"]] | None = Field(
        None,
        description="Cheap baselines fitted on the training split and scored on the same test rows; the tuned model "
        "must beat the strongest (default: all that apply: majority and embedding_lr for classification, retrieval "
        "for completion and chat; [] for none).",
    )
    references: list[str] = Field(
        default_factory=list, description="Test-file fields holding more references per row, e.g. [summary2, summary3]."
    )
    slice_by: list[str] | None = Field(
        None, description="Fields to slice scores by; default: the label and metadata fields with 2-30 values."
    )
    metrics: list[str] = Field(
        default_factory=list,
        description="Custom metrics as 'package.module:function' taking (references, predictions).",
    )
    min_test_rows: StrictInt = Field(
        100, ge=1, description="Fewer test rows than this is a no-go: too noisy to decide."
    )
    min_slice_score: float | None = Field(
        None, ge=0, le=1, description="Worst slice must score at least this (default 0.5 for classification, off else)."
    )
    min_slice_rows: StrictInt = Field(10, ge=1, description="Slices smaller than this are shown but do not decide.")
    forgetting_probe: StrictBool = Field(
        True, description="Score general text (shipped with tunewise) by perplexity before and after tuning."
    )
    max_perplexity_increase: float = Field(
        0.2, ge=0, description="Warn when general-text perplexity rises by more than this fraction (forgetting)."
    )
    max_generalization_gap: float = Field(
        0.5, ge=0, description="Validation minus training loss at the kept checkpoint above this is a no-go."
    )
    target: float | None = Field(None, description="Optional score the tuned model must reach (accuracy or ROUGE-L).")
    judge: JudgeConfig | None = Field(None, description="Optional model-as-judge of base vs fine-tuned answers.")
    max_test_looks: StrictInt = Field(
        3, ge=1, description="Warn when this many differently configured runs beside this one evaluated the same test."
    )


Severity = Literal["error", "warning", "info"]


class AuditConfig(_Section):
    """The data audit: which checks run, how severe each one is, and their thresholds."""

    in_run: StrictBool = Field(True, description="`tunewise run` audits the data first (findings go in the report).")
    checks: list[str] | None = Field(
        None, description="Checks to run, named as the audit table names them; default: all."
    )
    severity: dict[str, Severity] = Field(
        default_factory=dict, description="Override a check's severity, e.g. {near_duplicate: error}."
    )
    near_duplicate_threshold: float = Field(
        0.65, gt=0, le=1, description="Jaccard similarity of character 3-grams at which two inputs are near duplicates."
    )
    semantic_threshold: float = Field(
        0.95, gt=0, le=1, description="Embedding cosine similarity at which two inputs are semantic duplicates."
    )
    conflict_threshold: float = Field(
        0.85, gt=0, le=1, description="Jaccard (character 3-grams) at which two inputs must share a label."
    )
    leakage_threshold: float = Field(
        0.85, gt=0, le=1, description="Jaccard (character 3-grams) at which a training input leaks an evaluation input."
    )
    leakage_ngram: StrictInt = Field(13, ge=3, description="A shared word n-gram this long counts as leakage.")
    min_class_count: StrictInt = Field(10, ge=1, description="Classes with fewer rows than this are flagged.")
    min_class_share: float = Field(
        0.25, ge=0, le=1, description="Classes smaller than this share of the median class are flagged too."
    )
    label_issue_margin: float = Field(
        0.35, ge=0, le=1, description="Flag a label when the classifiers prefer another one by this probability margin."
    )
    label_issue_folds: StrictInt = Field(5, ge=2, description="Cross-validation folds for out-of-fold probabilities.")
    group_field: str | None = Field(None, description="Metadata column whose balance is checked for generation data.")
    embedding_batch_size: StrictInt = Field(64, ge=1, description="Texts per batch when computing sentence embeddings.")


class CurateConfig(_Section):
    """The curation plan applied by `tunewise curate`; every step can be switched off."""

    drop_leaked: StrictBool = Field(True, description="Drop rows that leak into an --against evaluation file.")
    drop_exact_duplicates: StrictBool = Field(True, description="Keep one row of each exact-duplicate group.")
    dedupe_near: StrictBool = Field(True, description="Keep one row per near-duplicate cluster.")
    dedupe_semantic: StrictBool = Field(True, description="Keep one row per semantic-duplicate cluster.")
    duplicates: Literal["one_per_cluster", "keep_paraphrases"] = Field(
        "one_per_cluster",
        description="What a near- or semantic-duplicate cluster keeps. one_per_cluster: one row. keep_paraphrases "
        "(classification): every row, as paraphrases teach a classifier; rows after the first of their label count "
        "as redundant copies, which cap_per_class drops before any other row (exact copies go with "
        "drop_exact_duplicates).",
    )
    conflicts: Literal["majority", "drop", "keep"] = Field(
        "majority", description="Same input, different answers: keep the majority answer's rows, drop all, or keep."
    )
    label_issues: Literal["drop", "relabel", "keep"] = Field(
        "drop", description="Likely mislabeled rows: drop them, relabel to the suggestion, or keep (queue only)."
    )
    cap_per_class: StrictInt | None = Field(None, ge=1, description="Keep at most N rows per class (random, seeded).")
    upsample_to: StrictInt | None = Field(
        None, ge=1, description="Repeat rows of classes smaller than N up to N (a warning: copies add no information)."
    )


class SelectConfig(_Section):
    """Base-model selection (`tunewise select`, or model.name: auto): every candidate gets the same probe (the same
    training examples, seen once, with the run's train settings) and is ranked on validation score and measured
    cost."""

    candidates: list[str] | None = Field(
        None,
        min_length=1,
        description="What to compare: registry models, local model folders or hub ids (trained with the run's "
        "objective), MODEL:classify or MODEL:generate, the encoder minilm-l6, and the baselines embedding_lr "
        "(classification) or retrieval (completion, chat), which need no fine-tune. Unset: every family that "
        "applies to the task (classification: embedding_lr, minilm-l6 and the registry decoders with a head; "
        "completion and chat: retrieval and the registry decoders).",
    )
    probe_steps: StrictInt = Field(
        60,
        ge=1,
        description="The probe's budget: probe_steps x batch_size x gradient_accumulation training examples, seen "
        "once by every candidate (in as many steps as its own batch size needs); for classification at least "
        "probe_per_class examples per class.",
    )
    probe_per_class: StrictInt = Field(
        8,
        ge=1,
        description="Classification: the probe sees at least this many examples of each class (as the training "
        "split has them), so that a task with many classes gets a probe that can tell candidates apart.",
    )
    probe_max_examples: StrictInt = Field(
        2400,
        ge=1,
        description="The most examples a probe trains on, whatever probe_per_class asks for (a cap in examples, not "
        "minutes, so every candidate sees the same examples and a measurement is reproducible and cacheable).",
    )
    max_train_minutes: float | None = Field(
        None,
        gt=0,
        description="model.name: auto refuses to start a run whose pick is projected to train longer than this, "
        "and names the candidate that fits.",
    )
    validation_rows: StrictInt = Field(
        300, ge=10, description="Validation rows every candidate is scored on (zero-shot, few-shot, after the probe)."
    )
    prior_rows: StrictInt = Field(
        200, ge=1, description="Training rows whose text measures how familiar each model is with the task's language."
    )
    few_shot: StrictInt = Field(4, ge=0, description="Solved training examples put before each query (0: skip).")
    latency_rows: StrictInt = Field(16, ge=1, description="Rows answered one at a time to measure latency.")
    price_per_hour: float = Field(
        0.10, ge=0, description="Price of one hour of the serving machine, for the cost per 1,000 requests."
    )
    currency: str = Field("USD", description="Currency of price_per_hour.")


# What `tunewise tune` may search: each key's kind ("float", "int" or "choice" where only a list makes sense)
TUNABLE = {
    "train.learning_rate": "float",
    "train.epochs": "int",
    "train.weight_decay": "float",
    "train.warmup_ratio": "float",
    "train.batch_size": "int",
    "train.lora.r": "int",
    "train.lora.alpha": "int",
    "train.lora.dropout": "float",
    "train.dpo_beta": "float",
    "train.encoder.learning_rate": "float",
    "train.encoder.epochs": "int",
    "train.encoder.weight_decay": "float",
    "train.encoder.batch_size": "int",
}


class SearchRange(_Section):
    """One key's search range: ``low``/``high`` (log-scaled with ``log: true``), or a list of ``choices``."""

    low: float | None = Field(None, description="Smallest value tried.")
    high: float | None = Field(None, description="Largest value tried.")
    log: StrictBool = Field(False, description="Sample on a log scale (learning rates).")
    choices: list[float | int | str] | None = Field(None, description="The values tried, instead of a range.")

    @model_validator(mode="after")
    def _a_real_range(self) -> SearchRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give low/high or choices, not both")
            if not self.choices:
                raise ValueError("choices is empty")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if not self.low < self.high:
            raise ValueError(f"an empty or inverted range: low {self.low:g} is not below high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (low is {self.low:g})")
        return self


class TuneConfig(_Section):
    """`tunewise tune`: a hyperparameter search on the validation split (Optuna), then one run that opens the
    test split once."""

    trials: StrictInt = Field(12, ge=1, description="Trials to run (a resumed search counts the finished ones).")
    budget_minutes: float | None = Field(None, gt=0, description="Stop starting trials after this many minutes.")
    space: dict[str, SearchRange] = Field(
        default_factory=dict,
        description="Keys to search and their ranges, e.g. {train.learning_rate: {low: 1e-5, high: 1e-3, log: "
        "true}}; empty: the method's defaults (docs/tune.md).",
    )
    prune: StrictBool = Field(True, description="Stop a trial whose validation loss trails the median trial's.")
    workers: Literal["auto"] | StrictInt = Field(
        "auto",
        description="Trials run side by side, each in its own process: auto is one per visible GPU (each trial on "
        "its own device) and one on a CPU; a number above 1 on a CPU splits its cores between the trials.",
    )

    @field_validator("workers")
    @classmethod
    def _some_workers(cls, workers):
        if workers != "auto" and workers < 1:
            raise ValueError(f"must be auto or at least 1, got {workers}")
        return workers

    @field_validator("space")
    @classmethod
    def _known_keys(cls, space: dict[str, SearchRange]) -> dict[str, SearchRange]:
        for key, found in space.items():
            if key not in TUNABLE:
                raise ValueError(f"'{key}' cannot be tuned (tunable: {', '.join(TUNABLE)})")
            kind = TUNABLE[key]
            if kind == "int" and found.choices is None and (found.low % 1 or found.high % 1):
                raise ValueError(f"'{key}' takes whole numbers: low and high must be integers")
        return space


class TrackingConfig(_Section):
    """Where runs are tracked besides their folders."""

    mlflow: str | None = Field(
        None,
        description="An MLflow tracking URI (e.g. sqlite:///mlflow.db or a folder): every run logs its config, "
        "stage results, verdict and report there.",
    )
    experiment: str | None = Field(None, description="The MLflow experiment (default: the config's name).")


class TunewiseConfig(_Section):
    """A tunewise project: data → split → model → train → eval."""

    name: str = Field("run", description="A name for the run, used for the default output folder.")
    seed: StrictInt = Field(42, ge=0, lt=2**32, description="Seed for the split, data order and initialisation.")
    output_dir: str | None = Field(None, description="Run directory; default runs/<name>.")
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    select: SelectConfig = Field(default_factory=SelectConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    # Not a config key: the folder relative paths are resolved against.
    _base_dir: Path = Path(".")

    def resolve_path(self, value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self._base_dir / path)

    def run_dir(self) -> Path:
        return self.resolve_path(self.output_dir) if self.output_dir else Path("runs") / self.name

    def resolved(self, exclude_defaults: bool = False) -> dict:
        """The config as it ran: defaults filled in (with ``exclude_defaults``, only the values that differ from
        them), relative paths made absolute so it can be rerun anywhere."""
        data = self.model_dump(mode="json", exclude_defaults=exclude_defaults)
        for section, key in (("data", "path"), ("data", "test_path"), ("data", "pool"), ("model", "cache_dir")):
            value = getattr(getattr(self, section), key)
            if value:
                data.setdefault(section, {})[key] = str(self.resolve_path(value))
        local_model = self.resolve_path(self.model.name)
        if local_model is not None and local_model.is_dir():
            data.setdefault("model", {})["name"] = str(local_model)
        return data


class NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors' aliases: a recursive alias would end in a RecursionError, and aliases of aliases
    grow a small file into an exponentially large config. A config writes each value out."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed in a config: write the value out",
                self.peek_event().start_mark,
            )
        return super().compose_node(parent, index)


def load_config(path: Path, overrides: list[str] | None = None) -> TunewiseConfig:
    """Read, override and validate a config file; raise TunewiseError listing every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TunewiseError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TunewiseError(f"{path}: cannot read config ({exc})") from None
    try:
        raw = yaml.load(text, Loader=NoAliasLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise TunewiseError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise TunewiseError(f"{path}:1: the config must be a mapping of keys to values")
    key_lines = _key_lines(text)
    for item in overrides or []:
        apply_override(raw, item)
        key_lines[tuple(item.partition("=")[0].strip().split("."))] = f"override '{item}'"
    config = validate_config(raw, source=str(path), key_lines=key_lines)
    config._base_dir = path.parent.resolve()
    return config


def validate_config(raw: dict, source: str = "<config>", key_lines: dict | None = None) -> TunewiseConfig:
    try:
        return TunewiseConfig.model_validate(raw)
    except ValidationError as exc:
        raise TunewiseError(_describe(exc, source, key_lines or {})) from None


def apply_override(raw: dict, item: str) -> None:
    """Apply one ``section.key=value`` override; the value is parsed as YAML (so 2, 1e-4, true, [a, b] work)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise TunewiseError(f"override '{item}': expected KEY=VALUE, e.g. train.epochs=2")
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        if node.get(part) is None:  # absent, or an empty section in the file
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise TunewiseError(f"override '{item}': '{part}' is not a section")
    try:
        node[parts[-1]] = yaml.load(value, Loader=NoAliasLoader) if value.strip() else None
    except yaml.YAMLError as exc:
        raise TunewiseError(f"override '{item}': invalid value ({getattr(exc, 'problem', exc)})") from None


def _describe(exc: ValidationError, source: str, key_lines: dict) -> str:
    """One line per key: the errors of a key that takes one of several kinds (auto or a number) are one line."""
    messages: dict[tuple, list[str]] = {}
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        if len(loc) > 1 and _union_branch(loc[-1]):  # e.g. ("train", "batch_size", "literal['auto']")
            loc = loc[:-1]
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        if error["type"] == "extra_forbidden":
            message += f" (allowed: {', '.join(_allowed_keys(loc[:-1]))})"
        messages.setdefault(loc, []).append(message)
    lines = []
    for loc, said in messages.items():
        line = _nearest_line(loc, key_lines)
        prefix = line if isinstance(line, str) else f"{source}:{line}" if line else source
        first, *rest = dict.fromkeys(said)
        message = " or ".join([first, *(other.removeprefix("Input should be ") for other in rest)])
        lines.append(f"{prefix}: {'.'.join(loc) or '(top level)'}: {message}")
    return "\n".join(lines)


def _union_branch(part: str) -> bool:
    """Whether a location part names a branch of a union type (pydantic's tag), not a config key."""
    return part in ("int", "float", "str", "bool", "none") or part.startswith(
        ("literal[", "list[", "dict[", "function-", "constrained-")
    )


def _allowed_keys(section_loc: tuple) -> list[str]:
    model: Any = TunewiseConfig
    for part in section_loc:
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return list(model.model_fields)


def _nearest_line(loc: tuple, key_lines: dict) -> int | str | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in key_lines:
            return key_lines[loc[:end]]
    return None


def _key_lines(text: str) -> dict:
    """Map each key path, e.g. ('train', 'epochs'), to its 1-based line in the YAML text."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    found: dict = {}

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                path = prefix + (str(key_node.value),)
                found[path] = key_node.start_mark.line + 1
                walk(value_node, path)

    walk(root, ())
    return found


def starter_yaml() -> str:
    """A commented config with every key at its default, generated from the field descriptions."""
    out = [
        "# tunewise config. Every key is optional except data.path; shown values are the defaults.",
        "# Run it with: tunewise run tunewise.yaml   (override a key: tunewise run tunewise.yaml train.epochs=2)",
        "",
    ]
    _emit(TunewiseConfig, TunewiseConfig(), out, indent=0)
    return "\n".join(out) + "\n"


def _emit(model_cls: type[BaseModel], instance: BaseModel, out: list[str], indent: int) -> None:
    pad = "  " * indent
    for name, field in model_cls.model_fields.items():
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            if field.description or value.__doc__:
                out.append(f"{pad}# {(field.description or type(value).__doc__ or '').strip().splitlines()[0]}")
            out.append(f"{pad}{name}:")
            _emit(type(value), value, out, indent + 1)
            if indent == 0:
                out.append("")
            continue
        if name == "path" and model_cls is DataConfig:
            value = "data/train.jsonl"
        if field.description:
            out.append(f"{pad}# {field.description}")
        dumped = yaml.safe_dump({name: value}, default_flow_style=True, width=1000).strip()
        out.append(f"{pad}{dumped[1:-1]}")
