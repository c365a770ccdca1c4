"""Turn task records into conversations: the messages a model sees and the answer it must produce."""

from __future__ import annotations

import re
import unicodedata


def to_conversation(
    record: dict, task: str, instruction: str | None = None, train_on: str = "all_assistant"
) -> tuple[list[dict], str]:
    """Return (messages before the answer, answer text) for one record. With ``train_on`` last_assistant, a
    chat's earlier assistant turns are marked ``train: False`` (context only); otherwise training takes loss on
    them too (`tunewise.models.prompts.encode_example`)."""
    if task == "chat":
        before = record["messages"][:-1]
        if train_on == "last_assistant":
            before = [m | {"train": False} if m["role"] == "assistant" else m for m in before]
        return before, record["messages"][-1]["content"]
    answer = {"preference": "chosen", "classification": "label"}.get(task, "completion")
    return prompt_messages(record, task, instruction), record[answer]


def prompt_messages(record: dict, task: str, instruction: str | None = None) -> list[dict]:
    """The messages a model answers, from a record with or without its answer (a chat that ends with the user's
    turn is answered as it is)."""
    if task == "chat":
        messages = record["messages"]
        return messages if messages[-1]["role"] == "user" else messages[:-1]
    user = record["text"] if task == "classification" else record["prompt"]
    return [{"role": "user", "content": _with_instruction(user, instruction)}]


def input_text(record: dict, task: str) -> str:
    """The model input of a record, as one string (used for grouping and reporting)."""
    if task == "chat":
        return "\n".join(m["content"] for m in record["messages"][:-1])
    return record["text"] if task == "classification" else record["prompt"]


def turn_inputs(record: dict, task: str) -> list[str]:
    """Every input a record teaches an answer to, as strings: for a chat, the turns before each of its assistant
    turns (so a test chat that opens a longer training chat is found by the leakage gate, and the two share a
    split); for the other tasks, the one input."""
    if task != "chat":
        return [input_text(record, task)]
    messages = record["messages"]
    contexts = [
        "\n".join(m["content"] for m in messages[:i]) for i, m in enumerate(messages) if i and m["role"] == "assistant"
    ]
    return contexts or [input_text(record, task)]


def classifier_text(record: dict, instruction: str | None = None) -> str:
    """What a classification head reads of a classification record: the text, after the instruction if any."""
    return _with_instruction(record["text"], instruction)


def target_text(record: dict, task: str) -> str:
    return to_conversation(record, task)[1]


def normalize(text: str) -> str:
    """Case-, whitespace-, punctuation- and unicode-insensitive form of a text, for duplicate detection."""
    text = unicodedata.normalize("NFKC", text).casefold()
    words = " ".join(re.sub(r"[^\w\s]", " ", text).split())
    return words or " ".join(text.split())  # all punctuation or emoji: keep it rather than map it to ""


def _with_instruction(text: str, instruction: str | None) -> str:
    return f"{instruction}\n{text}" if instruction else text
