"""The model card (README.md) of an export: what the model is, what it was trained on, what the run measured and
decided, and how it was checked after export. Written from the run directory's own files, nothing typed twice."""

from __future__ import annotations

from tunewise._format import with_interval
from tunewise.evaluate.metrics import headline_keys
from tunewise.export.gguf import gguf_name
from tunewise.models.registry import MODELS

KIND_WORDS = {
    "encoder": "a sentence encoder with a mean-pooling classification head, fine-tuned in full",
    "classify": "a causal language model with a sequence-classification head",
    "generate": "a causal language model that answers in text",
}


def model_card(run: dict, export: dict | None = None) -> str:
    """Markdown with a metadata header. ``run``: config, summary, manifest, audit summary (or None);
    ``export``: format, dtype, kind, agreement and rows checked, the tunewise version. Without ``export`` (a run
    logged to a tracker before any export) the card says so and leaves out the export's check and loading."""
    cfg, summary = run["config"], run["summary"]
    spec = MODELS.get(cfg.model.name)
    licence = spec.license if spec else "see the base model"
    if export:
        kind = export["kind"]
    else:
        from tunewise.export.merged import model_kind

        kind = model_kind(cfg, summary["task"])
    if export:
        what = f"exported as `{export['format']}` in {export['dtype']}."
    else:
        what = "not exported yet (`tunewise export RUN --format merged` writes the files, checks and this card)."
    lines = [
        "---",
        f"license: {licence}",
        f"base_model: {cfg.model.name}",
        "library_name: transformers",
        "tags: [tunewise, " + ("text-classification" if kind != "generate" else "text-generation") + "]",
        "---",
        "",
        f"# {cfg.name}",
        "",
        f"{cfg.model.name} ({KIND_WORDS[kind]}), fine-tuned by tunewise ({cfg.train.method}) "
        f"on {summary['task']} data; {what}",
        "",
        *_base_weights_lines(cfg.model.name),
        *_verdict_lines(summary),
        *_metric_lines(summary),
        *_data_lines(run["manifest"], summary, run["audit"]),
    ]
    if export is None:
        return "\n".join(lines)
    lines += [
        "## Checked after export",
        "",
        f"Loaded back from these files and run on {export['rows']} test rows: the same answer as the run's own "
        f"predictions on {export['agreement']:.1%} of them (required: {export['min_agreement']:.1%}).",
        "",
        "## Loading",
        "",
        *_how_to_load(export, cfg),
        "",
        f"Base model licence: {licence}. Exported with tunewise {export['version']}.",
        "",
    ]
    return "\n".join(lines)


def _verdict_lines(summary: dict) -> list[str]:
    decision = summary.get("decision") or {}
    if not decision:
        return []
    lines = ["## Verdict", "", f"**{decision['verdict']}**", ""]
    lines += [f"- {'pass' if c['passed'] else 'FAIL'} `{c['check']}`: {c['message']}" for c in decision["checks"]]
    return lines + [""]


def _metric_lines(summary: dict) -> list[str]:
    keys = [k for k in headline_keys(summary["task"]) if k in summary.get("tuned", {})]
    systems = [("fine-tuned (this model)", summary.get("tuned", {})), ("base model", summary.get("base", {}))]
    systems += [(f"baseline {name}", found) for name, found in (summary.get("baselines") or {}).items()]
    lines = ["## Test metrics (95 % bootstrap intervals)", "", "| system | " + " | ".join(keys) + " |"]
    lines.append("|---" * (len(keys) + 1) + "|")
    for name, found in systems:
        if found:
            lines.append(f"| {name} | " + " | ".join(with_interval(found, k) for k in keys) + " |")
    return lines + ["", f"{summary.get('tuned', {}).get('n', '?')} test rows.", ""]


def _data_lines(manifest: dict, summary: dict, audit: dict | None) -> list[str]:
    sizes = summary.get("split", {})
    lines = ["## Training data", ""]
    for path, facts in manifest.get("inputs", {}).items():
        lines.append(f"- `{path}`: {facts['rows']} rows, sha256 {facts['sha256'][:16]}…")
    lines.append(
        f"- split: {sizes.get('train', '?')} train, {sizes.get('validation', '?')} validation, "
        f"{sizes.get('test', '?')} test rows (near duplicates kept on one side)"
    )
    if audit:
        severe = ", ".join(audit.get("by_severity", {}).get("error", [])) or "none"
        lines.append(f"- audit: {audit.get('flagged_rows', '?')} rows flagged; checks at error severity: {severe}")
    return lines + [""]


def _how_to_load(export: dict, cfg) -> list[str]:
    if export["format"] == "merged":
        return ["```python", *_loading_lines(export["kind"]), *_usage_lines(export["kind"], cfg), "```"]
    gguf = gguf_name(export["dtype"])
    lines = ["```sh", f"llama-cli -m {gguf} -cnv --temp 0   # llama.cpp; the chat template is stored in the file"]
    if export["format"] == "ollama":
        lines += [f"ollama create {cfg.name} -f Modelfile", f"ollama run {cfg.name}"]
    return lines + ["```"]


def _loading_lines(kind: str) -> list[str]:
    if kind == "encoder":
        return [
            "from tunewise.models.encoder import MeanPoolingClassifier  # mean pooling + linear head",
            "from transformers import AutoTokenizer",
            'model = MeanPoolingClassifier.from_pretrained("THIS_FOLDER")',
            'tokenizer = AutoTokenizer.from_pretrained("THIS_FOLDER")',
        ]
    loader = "AutoModelForSequenceClassification" if kind == "classify" else "AutoModelForCausalLM"
    return [
        f"from transformers import AutoTokenizer, {loader}",
        f'model = {loader}.from_pretrained("THIS_FOLDER")',
        'tokenizer = AutoTokenizer.from_pretrained("THIS_FOLDER")',
    ]


def _usage_lines(kind: str, cfg) -> list[str]:
    if kind == "generate":
        return [
            'messages = [{"role": "user", "content": "..."}]',
            "ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors='pt')",
            "new_tokens = model.generate(ids, max_new_tokens=64)[0, ids.shape[1] :]",
            "answer = tokenizer.decode(new_tokens, skip_special_tokens=True)",
        ]
    prefix = (
        f"# the text as the head was trained on it: {cfg.model.instruction!r} + a newline + the text\n"
        if cfg.model.instruction
        else ""
    )
    return [
        f"{prefix}inputs = tokenizer(\"the text to classify\", return_tensors='pt', truncation=True, "
        f"max_length={cfg.model.max_length})",
        "label = model.config.id2label[int(model(**inputs).logits.argmax())]",
    ]


def _base_weights_lines(name: str) -> list[str]:
    """Where a registry model's weights come from: the decoders are dequantised 4-bit GGUF files (lossy)."""
    spec = MODELS.get(name)
    return [f"Base weights: {spec.source}.", ""] if spec is not None else []
