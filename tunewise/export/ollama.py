"""An Ollama Modelfile beside the GGUF: the chat template rewritten as an Ollama (Go) template, the run's system
prompt, greedy decoding and the end-of-turn stop. The template is derived by rendering the model's own chat
template around marker texts, and checked by rendering both on sample conversations: a template that cannot be
expressed this way is refused, never guessed."""

from __future__ import annotations

from tunewise.errors import TunewiseError

MARKS = {"system": "\x00S\x00", "user": "\x00U\x00", "assistant": "\x00A\x00", "again": "\x00V\x00"}


def modelfile(renderer, gguf_file: str) -> str:
    """The Modelfile text for ``gguf_file`` (a name in the same folder)."""
    if not renderer.chat:
        raise TunewiseError("--format ollama needs a model with a chat template (this run used the plain format)")
    parts = _template_parts(renderer.tokenizer)
    system = renderer.system_prompt or parts["default_system"]
    if system and '"""' in system:
        raise TunewiseError('--format ollama: the system prompt holds """, which a Modelfile cannot quote')
    _check(parts, renderer)
    lines = [
        "# Written by tunewise export; the GGUF was checked against the run's own answers (export.json).",
        f"FROM ./{gguf_file}",
        f'TEMPLATE """{go_template(parts)}"""',
    ]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    for stop in _stops(renderer):
        lines.append(f"PARAMETER stop {_quoted(stop)}")
    lines.append("PARAMETER temperature 0")  # greedy, as the run was evaluated
    return "\n".join(lines) + "\n"


def _template_parts(tokenizer) -> dict:
    """Each role's opening text, the closing text every message shares and the generation prompt, read off the
    chat template rendered around markers. Assumes the common shape: OPEN(role) + content + CLOSE per message."""
    conversation = [
        {"role": "system", "content": MARKS["system"]},
        {"role": "user", "content": MARKS["user"]},
        {"role": "assistant", "content": MARKS["assistant"]},
        {"role": "user", "content": MARKS["again"]},
    ]
    full = _rendered(tokenizer, conversation)
    if any(full.count(mark) != 1 for mark in MARKS.values()):
        raise TunewiseError("--format ollama: the chat template does not show each message once; use --format gguf")
    opening, rest = full.split(MARKS["system"])
    to_user, rest = rest.split(MARKS["user"])
    to_assistant, rest = rest.split(MARKS["assistant"])
    to_again, tail = rest.split(MARKS["again"])
    bos = tokenizer.bos_token or ""
    for start in ("", bos) if bos and opening.startswith(bos) else ("",):  # a BOS text is kept apart if it must be
        opens = {role: opening[len(start) :].replace("system", role) for role in ("system", "user", "assistant")}
        close = to_user[: -len(opens["user"])] if to_user.endswith(opens["user"]) else None
        if (
            close is not None
            and to_assistant == close + opens["assistant"]
            and to_again == close + opens["user"]
            and tail.startswith(close)
        ):
            break
    else:
        raise TunewiseError("--format ollama: the chat template has no Ollama equivalent here; use --format gguf")
    parts = {"start": start, "open": opens, "close": close, "generation": tail[len(close) :]}
    parts["default_system"] = _default_system(tokenizer, parts)
    return parts


def _rendered(tokenizer, conversation: list[dict]) -> str:
    try:
        return tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - templates raise their own errors (a system role they lack, …)
        raise TunewiseError(
            f"--format ollama: the chat template refuses a system/user/assistant conversation "
            f"({exc}); use --format gguf"
        ) from None


def _default_system(tokenizer, parts: dict) -> str | None:
    """The system text the template adds when a conversation has none (SmolLM2 names itself), or None."""
    alone = _rendered(tokenizer, [{"role": "user", "content": MARKS["user"]}])
    head = parts["start"] + parts["open"]["system"]
    tail = parts["close"] + parts["open"]["user"] + MARKS["user"]
    if alone.startswith(head) and tail in alone:
        return alone[len(head) : alone.index(tail)]
    return None


def go_template(parts: dict) -> str:
    """Ollama's template: the system prompt, then each user and assistant message, then the generation prompt."""
    opens, close = parts["open"], parts["close"]
    for text in (*opens.values(), close, parts["generation"], parts["start"]):
        if "{{" in text or '"""' in text:
            raise TunewiseError("--format ollama: the chat template's text cannot be quoted in a Modelfile")
    return (
        f"{parts['start']}{{{{ if .System }}}}{opens['system']}{{{{ .System }}}}{close}{{{{ end }}}}"
        f'{{{{ range .Messages }}}}{{{{ if eq .Role "user" }}}}{opens["user"]}{{{{ .Content }}}}{close}'
        f'{{{{ else if eq .Role "assistant" }}}}{opens["assistant"]}{{{{ .Content }}}}{close}{{{{ end }}}}'
        f"{{{{ end }}}}{parts['generation']}"
    )


def render_like_ollama(parts: dict, system: str | None, messages: list[dict]) -> str:
    """What Ollama makes of ``go_template(parts)`` for these messages (used to check the template)."""
    opens, close = parts["open"], parts["close"]
    text = parts["start"] + (opens["system"] + system + close if system else "")
    for message in messages:
        if message["role"] in ("user", "assistant"):
            text += opens[message["role"]] + message["content"] + close
    return text + parts["generation"]


def _check(parts: dict, renderer) -> None:
    system = renderer.system_prompt or parts["default_system"]
    samples = [
        [{"role": "user", "content": "Where is my card?"}],
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello, how can I help?"},
            {"role": "user", "content": "My top-up failed."},
        ],
    ]
    for messages in samples:
        if render_like_ollama(parts, system, messages) != renderer.prompt_text(messages):
            raise TunewiseError("--format ollama: the derived template renders differently; use --format gguf")


def _stops(renderer) -> list[str]:
    texts = [renderer.tokenizer.decode([token]) for token in renderer.stop_ids()]
    return list(dict.fromkeys(text for text in texts if text.strip()))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
