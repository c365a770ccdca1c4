"""The shapes fine-tuning files come in, read as tunewise's own rows (LLaMA-Factory's and Axolotl's names):

- Alpaca: ``instruction``, optional ``input``, ``output``; optional ``system`` and ``history`` ([[question,
  answer], ...]). A chat: system, the history's turns, the instruction (and input, after a blank line) as the
  user's turn, the output as the assistant's.
- ShareGPT: ``conversations``, a list of ``{from, value}`` turns (roles human, gpt, system; ``{role, content}``
  turns and the roles user and assistant are read too). A chat.
- ShareGPT preference: ``conversations`` (the prompt: one user turn, an optional system turn before it) with
  ``chosen`` and ``rejected`` turns (or plain strings). A preference row.

Tool calls (``function_call`` / ``observation`` / ``tool`` turns, a ``tools`` column) are refused with the role and
the row named: tunewise does not train tool use, and a silently dropped turn would change what the model learns.
An unknown role or an empty turn is an error naming the row and the turn, never a silent drop.
"""

from __future__ import annotations

ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
# the tool-use roles of OpenAI, ShareGPT, LLaMA-Factory and Llama 3 data (refused in every chat format)
TOOL_ROLES = ("function_call", "observation", "tool", "function", "tool_call", "tool_response", "ipython")
DIALECTS = ("alpaca", "sharegpt", "sharegpt_preference")


class DialectError(ValueError):
    """A row that does not fit its dialect: the field (``conversations[2].from``) and what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def dialect_of(row: dict) -> str | None:
    """Which known shape a row has, by its keys; None for tunewise's own columns (or anything else)."""
    if "conversations" in row:
        return "sharegpt_preference" if "chosen" in row and "rejected" in row else "sharegpt"
    if "instruction" in row and "output" in row:
        return "alpaca"
    return None


def as_task_row(row: dict, dialect: str) -> dict:
    """The row in tunewise's columns (messages; or prompt, chosen, rejected); keys the dialect does not use stay,
    as any extra column does (they become the record's meta)."""
    if "tools" in row and row["tools"] not in (None, "", [], "[]"):
        raise DialectError("tools", "tool definitions: tool-call training is not supported (remove the column)")
    if dialect == "alpaca":
        return _alpaca(row)
    turns = _turns(row.get("conversations"), "conversations")
    rest = {key: value for key, value in row.items() if key not in ("conversations", "chosen", "rejected", "tools")}
    if dialect == "sharegpt":
        return rest | {"messages": turns}
    return rest | _preference(row, turns)


def _alpaca(row: dict) -> dict:
    instruction, extra = _text(row, "instruction"), row.get("input") or ""
    if not isinstance(extra, str):
        raise DialectError("input", "must be text")
    messages = []
    if row.get("system"):
        messages.append({"role": "system", "content": _text(row, "system")})
    history = row.get("history") or []
    if not isinstance(history, list):
        raise DialectError("history", "must be a list of [question, answer] pairs")
    for index, pair in enumerate(history):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) and t.strip() for t in pair)):
            raise DialectError(f"history[{index}]", "must be a [question, answer] pair of non-empty texts")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "output")}]
    used = ("instruction", "input", "output", "system", "history")
    rest = {key: value for key, value in row.items() if key not in used}
    return rest | {"messages": messages}


def _turns(value, column: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise DialectError(column, "expected a non-empty list of {from, value} turns")
    return [_turn(turn, f"{column}[{index}]") for index, turn in enumerate(value)]


def _turn(turn, where: str) -> dict:
    if not isinstance(turn, dict):
        raise DialectError(where, "expected a {from, value} turn")
    role_key, text_key = ("from", "value") if "from" in turn or "value" in turn else ("role", "content")
    role = turn.get(role_key)
    if role in TOOL_ROLES:
        raise DialectError(f"{where}.{role_key}", f"the tool-call role '{role}' is not supported (remove the row)")
    if role not in ROLES:
        raise DialectError(f"{where}.{role_key}", f"unknown role {role!r} (known: {', '.join(ROLES)})")
    text = turn.get(text_key)
    if not isinstance(text, str) or not text.strip():
        raise DialectError(f"{where}.{text_key}", "empty turn (missing or blank text)")
    return {"role": ROLES[role], "content": text}


def _preference(row: dict, turns: list[dict]) -> dict:
    users = [turn for turn in turns if turn["role"] == "user"]
    if len(users) != 1 or turns[-1]["role"] != "user" or len(turns) - len(users) > (turns[0]["role"] == "system"):
        raise DialectError(
            "conversations", "a preference row's prompt must be one user turn (an optional system turn before it)"
        )
    found = {"prompt": users[0]["content"]}
    for side in ("chosen", "rejected"):
        value = row.get(side)
        found[side] = value if isinstance(value, str) else _turn(value, side)["content"]
        if not found[side].strip():
            raise DialectError(side, "empty answer")
    if turns[0]["role"] == "system":
        found["system"] = turns[0]["content"]
    return found


def _text(row: dict, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DialectError(field, "missing or empty (must be text)")
    return value
