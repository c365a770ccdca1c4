"""Loading a model for use: its folder and prompt renderer, the weights for evaluation, and the dtype rule."""

from __future__ import annotations

from pathlib import Path

from tunewise.errors import TunewiseError
from tunewise.models.prompts import make_renderer
from tunewise.models.registry import MODELS, code_options, hub_commit, is_encoder, resolve_model


def model_and_renderer(cfg, name: str | None = None, system_prompt: str | None = None):
    """The model folder and prompt renderer of the config's model (or of another model, e.g. a judge)."""
    from transformers import AutoTokenizer

    given = name or cfg.model.name
    local = cfg.resolve_path(given)
    resolved = str(local) if given not in MODELS and local is not None and local.is_dir() else given
    own = given == cfg.model.name  # model.revision and model.trust_remote_code are the config's model's
    model_path = resolve_model(
        resolved,
        cfg.resolve_path(cfg.model.cache_dir),
        cfg.model.revision if own else None,
        cfg.model.trust_remote_code and own,
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path, **code_options(model_path))
    except (OSError, ValueError) as exc:
        raise TunewiseError(f"model '{given}': cannot load its tokenizer ({str(exc).splitlines()[0]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if cfg.model.chat_template and name is None:
        tokenizer.chat_template = chat_template_text(cfg)
        check_chat_template(tokenizer, cfg.model.chat_template)
    if name is not None or is_encoder(given):  # an encoder reads the text itself: no chat template
        return model_path, make_renderer(tokenizer, "auto", system_prompt)
    return model_path, make_renderer(tokenizer, cfg.model.prompt_format, cfg.model.system_prompt)


def pin_hub_revision(cfg):
    """The config with model.revision set to the commit a hub id resolves to (a branch or tag can move; every later
    load of the run, by eval, export, serve or pool, then reads the same files), and that commit; the config
    unchanged and None for a registry model or a local folder."""
    name = cfg.model.name
    local = cfg.resolve_path(name)
    if name in MODELS or name == "auto" or "/" not in name or (local is not None and local.is_dir()):
        return cfg, None
    path = resolve_model(name, cfg.resolve_path(cfg.model.cache_dir), cfg.model.revision, cfg.model.trust_remote_code)
    commit = hub_commit(path)
    if commit is None:
        return cfg, None
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"revision": commit})}), commit


NAMED_TEMPLATES = {  # model.chat_template by name: the layouts of the families people fine-tune most
    "chatml": "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "llama-3": "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt "
    "%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "gemma": "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' "
    "else message['role'] %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}",
}


def check_chat_template(tokenizer, given: str) -> None:
    """Render a sample chat: the prompt rendered for generation must be where the assistant's answer starts in the
    whole chat, or training could not tell which tokens are the answer."""
    sample = [{"role": "user", "content": "Where is my card?"}]
    answer = "It is on its way."
    try:
        prompt = tokenizer.apply_chat_template(sample, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(sample + [{"role": "assistant", "content": answer}], tokenize=False)
    except Exception as exc:  # jinja's errors and the template's own raise_exception
        raise TunewiseError(f"config: model.chat_template: rendering a sample chat failed ({exc})") from None
    if not full.startswith(prompt) or answer not in full[len(prompt) :]:
        raise TunewiseError(
            f"config: model.chat_template '{given[:60]}': it does not mark the assistant's turn (the chat rendered "
            "with add_generation_prompt must be where the answer starts in the whole chat)"
        )


def chat_template_text(cfg) -> str:
    """model.chat_template: a named template, a file's content when it names a file, else the template itself; a
    template that does not parse is a one-line error before any work."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    given = cfg.model.chat_template
    if given in NAMED_TEMPLATES:
        return NAMED_TEMPLATES[given]
    path = cfg.resolve_path(given) if len(given) < 500 and "{" not in given else None
    text = path.read_text(encoding="utf-8") if path is not None and path.is_file() else given
    if "{" not in text:
        raise TunewiseError(f"config: model.chat_template: '{given}' is neither a file nor a Jinja template")
    try:
        ImmutableSandboxedEnvironment().from_string(text)
    except TemplateSyntaxError as exc:
        raise TunewiseError(f"config: model.chat_template: line {exc.lineno}: {exc.message}") from None
    return text


def load_for_eval(model_path: str, checkpoint: Path | None, cfg):
    """The base model (no checkpoint) or the fine-tuned one, on the best device, in the evaluation dtype. A LoRA
    adapter is merged in fp32 and the merged model cast afterwards."""
    import torch
    from transformers import AutoModelForCausalLM

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = eval_dtype(cfg, device)
    if checkpoint is not None and cfg.train.method == "full":
        return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype, **code_options(checkpoint)).to(device)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32, **code_options(model_path))
    if checkpoint is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, checkpoint).merge_and_unload()
    return model.to(device=device, dtype=dtype)


def classifier_from_base(model_path: str, labels: list[str], dtype, model_class=None, **options):
    """The base model with a classification head of len(labels) outputs, named by ``labels`` (``model_class``:
    transformers' AutoModelForSequenceClassification unless given, e.g. the encoder's MeanPoolingClassifier)."""
    from transformers import AutoModelForSequenceClassification

    return (model_class or AutoModelForSequenceClassification).from_pretrained(
        model_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        dtype=dtype,
        **code_options(model_path),
        **options,
    )


def load_classifier(model_path: str, checkpoint: Path, cfg, labels: list[str], pad_token_id: int):
    """A fine-tuned classification head (with its LoRA adapters merged in fp32, or full weights) on the best
    device, in the evaluation dtype."""
    import torch
    from transformers import AutoModelForSequenceClassification

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = eval_dtype(cfg, device)
    if is_encoder(cfg.model.name):  # always trained in full, with tunewise's mean-pooling head
        from tunewise.models.encoder import MeanPoolingClassifier

        return (
            MeanPoolingClassifier.from_pretrained(checkpoint, dtype=torch.float32).to(device=device, dtype=dtype).eval()
        )
    if cfg.train.method == "full":
        model = AutoModelForSequenceClassification.from_pretrained(
            checkpoint, dtype=torch.float32, **code_options(checkpoint)
        )
    else:
        from peft import PeftModel

        model = classifier_from_base(model_path, labels, torch.float32)
        model = PeftModel.from_pretrained(model, checkpoint).merge_and_unload()
    model.config.pad_token_id = pad_token_id
    return model.to(device=device, dtype=dtype).eval()


def eval_dtype(cfg, device):
    """bf16 when eval.precision asks for it, or is auto and the device computes bf16 natively; else fp32
    (`tunewise.models.precision`)."""
    import torch

    from tunewise.models.precision import resolve_eval_precision

    return torch.bfloat16 if resolve_eval_precision(cfg.eval.precision, device.type) == "bf16" else torch.float32
