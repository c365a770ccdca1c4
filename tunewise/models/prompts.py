"""Render conversations as token ids: the chat template where the model has one, a plain layout otherwise.

The prompt and the answer are tokenised separately so the loss can cover the answer tokens only, and
so that generation at evaluation time starts exactly where training answers started.
"""

from __future__ import annotations

from dataclasses import dataclass

PLAIN_INPUT, PLAIN_RESPONSE = "### Input:\n", "\n\n### Response:\n"


@dataclass
class Renderer:
    """Everything needed to turn (messages, answer) into prompt and answer token ids for one tokenizer."""

    tokenizer: object
    chat: bool
    system_prompt: str | None = None

    def prompt_text(self, messages: list[dict]) -> str:
        if self.chat:
            return self.tokenizer.apply_chat_template(
                self.with_system(messages), tokenize=False, add_generation_prompt=True
            )
        header = f"{self.system_prompt}\n\n" if self.system_prompt else ""
        return header + PLAIN_INPUT + "\n\n".join(m["content"] for m in messages) + PLAIN_RESPONSE

    def answer_text(self, messages: list[dict], answer: str) -> str:
        """The answer as the model must write it, end-of-turn marker included."""
        if self.chat:
            prompt = self.prompt_text(messages)
            full = self.tokenizer.apply_chat_template(
                self.with_system(messages) + [{"role": "assistant", "content": answer}], tokenize=False
            )
            if full.startswith(prompt):
                return full[len(prompt) :]
        return answer + (self.tokenizer.eos_token or "")

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        # A chat template writes its own BOS token where the model wants one.
        return self.tokenizer(self.prompt_text(messages), add_special_tokens=not self.chat)["input_ids"]

    def answer_ids(self, messages: list[dict], answer: str) -> list[int]:
        return self.tokenizer(self.answer_text(messages, answer), add_special_tokens=False)["input_ids"]

    def stop_ids(self) -> list[int]:
        """Token ids that end an answer: the first token after the answer text, and EOS."""
        probe = "Zq"
        text = self.answer_text([{"role": "user", "content": "x"}], probe)
        suffix = text[text.index(probe) + len(probe) :].lstrip(" ")
        ids = self.tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix else []
        stops = ids[:1]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in stops:
            stops.append(self.tokenizer.eos_token_id)
        return stops

    def with_system(self, messages: list[dict]) -> list[dict]:
        if self.system_prompt and not (messages and messages[0]["role"] == "system"):
            return [{"role": "system", "content": self.system_prompt}] + messages
        return messages


def make_renderer(tokenizer, prompt_format: str = "auto", system_prompt: str | None = None) -> Renderer:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    chat = has_template if prompt_format == "auto" else prompt_format == "chat"
    if chat and not has_template:
        from tunewise.errors import TunewiseError

        raise TunewiseError("model.prompt_format is 'chat' but the model's tokenizer has no chat template")
    return Renderer(tokenizer=tokenizer, chat=chat, system_prompt=system_prompt)


def encode_example(renderer: Renderer, messages: list[dict], answer: str, max_length: int) -> tuple[dict, bool]:
    """Token ids with labels on the answer only, and on every earlier assistant turn of a chat not marked
    ``train: False`` (`to_conversation`'s data.train_on); returns (example, whether it was truncated)."""
    if renderer.chat and any(m["role"] == "assistant" and m.get("train", True) for m in messages):
        found = _encode_turns(renderer, messages, answer, max_length)
        if found is not None:
            return found, False
    prompt = renderer.prompt_ids(messages)
    target = renderer.answer_ids(messages, answer)
    truncated = len(prompt) + len(target) > max_length
    if truncated:
        # A long answer keeps up to half the window for its prompt; the prompt loses its start, not its end.
        target = target[: max_length - min(len(prompt), max_length // 2)]
        room = max_length - len(target)
        prompt = prompt[len(prompt) - room :] if room else []
    ids = prompt + target
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(prompt) + target}, truncated


def _encode_turns(renderer: Renderer, messages: list[dict], answer: str, max_length: int) -> dict | None:
    """A multi-turn chat with loss on each assistant turn (the ones marked ``train: False`` are context), built
    turn by turn from the template's own text so every target is exactly what generation after that turn's prompt
    produces. None when the template does not render a chat as the sum of its turns (it rewrites earlier turns) or
    the chat does not fit in ``max_length``: then only the last answer is trained, as for a single turn."""
    turns = messages + [{"role": "assistant", "content": answer}]
    ids: list[int] = []
    labels: list[int] = []
    text = ""
    for index, message in enumerate(turns):
        if message["role"] != "assistant":
            continue
        prompt = renderer.prompt_text(turns[:index])
        if not prompt.startswith(text):
            return None
        target = renderer.answer_ids(turns[:index], message["content"])
        context = renderer.tokenizer(prompt[len(text) :], add_special_tokens=False)  # the template writes its own
        ids += context["input_ids"] + target
        trained = index == len(turns) - 1 or message.get("train", True)
        labels += [-100] * len(context["input_ids"]) + (target if trained else [-100] * len(target))
        text = prompt + renderer.answer_text(turns[:index], message["content"])
    if len(ids) > max_length:
        return None
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def classifier_ids(tokenizer, text: str, max_length: int) -> tuple[list[int], bool]:
    """A classification head reads the text itself (no chat template: the head pools the last token, and a
    template would only lengthen every row); a long text keeps its start. Returns (ids, whether it was cut)."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    return ids[:max_length], len(ids) > max_length
