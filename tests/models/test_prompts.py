from tunewise.models.prompts import encode_example, make_renderer

MESSAGES = [{"role": "user", "content": "where is my new card"}]


def test_chat_format_puts_loss_on_the_answer_and_its_end_marker_only(tiny_tokenizer):
    renderer = make_renderer(tiny_tokenizer, "auto", system_prompt="Route the query.")
    example, truncated = encode_example(renderer, MESSAGES, "card_arrival", max_length=256)
    assert not truncated
    answer = [t for t in example["labels"] if t != -100]
    assert tiny_tokenizer.decode(answer) == "card_arrival<|im_end|>\n"
    prompt = tiny_tokenizer.decode(example["input_ids"][: len(example["input_ids"]) - len(answer)])
    assert prompt.startswith("<|im_start|>system\nRoute the query.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_stop_ids_start_with_the_end_of_turn_token(tiny_tokenizer):
    renderer = make_renderer(tiny_tokenizer, "chat")
    assert renderer.stop_ids()[0] == tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_plain_format_when_asked(tiny_tokenizer):
    renderer = make_renderer(tiny_tokenizer, "plain", system_prompt="Header")
    assert not renderer.chat
    assert renderer.prompt_text(MESSAGES) == "Header\n\n### Input:\nwhere is my new card\n\n### Response:\n"
    assert renderer.answer_text(MESSAGES, "x") == "x<|im_end|>"


def test_long_prompts_are_cut_from_the_left_and_the_answer_kept(tiny_tokenizer):
    renderer = make_renderer(tiny_tokenizer, "chat")
    long_messages = [{"role": "user", "content": "where is my new card " * 40}]
    example, truncated = encode_example(renderer, long_messages, "card_arrival", max_length=32)
    assert truncated
    assert len(example["input_ids"]) == 32 == len(example["labels"])
    answer = [t for t in example["labels"] if t != -100]
    assert tiny_tokenizer.decode(answer) == "card_arrival<|im_end|>\n"


def test_a_long_answer_keeps_half_the_window_for_its_prompt(tiny_tokenizer):
    renderer = make_renderer(tiny_tokenizer, "chat")
    example, truncated = encode_example(renderer, MESSAGES, "card arrival " * 100, max_length=40)
    assert truncated and len(example["input_ids"]) == 40
    prompt_tokens = sum(1 for t in example["labels"] if t == -100)
    full_prompt = len(renderer.prompt_ids(MESSAGES))
    assert prompt_tokens == min(full_prompt, 20)


CHAT = [
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "hello, how can I help"},
    {"role": "user", "content": "my card is lost"},
]


def test_a_chat_takes_loss_on_every_assistant_turn_unless_told_the_last_only(tiny_tokenizer):
    from tunewise.data.formats import to_conversation

    renderer = make_renderer(tiny_tokenizer, "chat")
    record = {"messages": CHAT + [{"role": "assistant", "content": "card_lost"}]}
    example, truncated = encode_example(renderer, *to_conversation(record, "chat"), max_length=256)
    full = tiny_tokenizer.apply_chat_template(record["messages"], tokenize=False)
    assert not truncated and tiny_tokenizer.decode(example["input_ids"]) == full  # the template's own text
    trained = [t if t != -100 else None for t in example["labels"]]
    spans = "".join(tiny_tokenizer.decode([t]) if t is not None else "\0" for t in trained).split("\0")
    assert [span for span in spans if span] == ["hello, how can I help<|im_end|>\n", "card_lost<|im_end|>\n"]
    last_only, _ = encode_example(renderer, *to_conversation(record, "chat", train_on="last_assistant"), 256)
    assert last_only["input_ids"] == example["input_ids"]
    assert tiny_tokenizer.decode([t for t in last_only["labels"] if t != -100]) == "card_lost<|im_end|>\n"
    too_long, cut = encode_example(renderer, *to_conversation(record, "chat"), max_length=12)
    assert cut and len(too_long["input_ids"]) == 12  # too long for every turn: the last answer, as a single turn


def test_a_chat_template_from_the_config_replaces_the_tokenizers(tmp_path, tiny_model_dir):
    import pytest

    from tunewise.config import validate_config
    from tunewise.errors import TunewiseError
    from tunewise.models.loading import model_and_renderer

    (tmp_path / "plain.jinja").write_text(
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    cfg = validate_config(
        {"data": {"path": "x.jsonl"}, "model": {"name": str(tiny_model_dir), "chat_template": "plain.jinja"}}
    )
    cfg._base_dir = tmp_path
    _, renderer = model_and_renderer(cfg)
    assert (
        renderer.prompt_text(CHAT)
        == "[user] hi\n[assistant] hello, how can I help\n[user] my card is lost\n[assistant] "
    )
    cfg.model.chat_template = "{% for m in messages %}{{ m.content }"
    with pytest.raises(TunewiseError, match="model.chat_template: line 1"):
        model_and_renderer(cfg)


def test_a_named_chat_template_and_one_that_hides_the_answer(tmp_path, tiny_model_dir):
    import pytest

    from tunewise.config import validate_config
    from tunewise.errors import TunewiseError
    from tunewise.models.loading import model_and_renderer

    cfg = validate_config(
        {"data": {"path": "x.jsonl"}, "model": {"name": str(tiny_model_dir), "chat_template": "llama-3"}}
    )
    _, renderer = model_and_renderer(cfg)
    assert renderer.prompt_text(CHAT[:1]).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    cfg.model.chat_template = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}"
    with pytest.raises(TunewiseError, match="does not mark the assistant's turn"):
        model_and_renderer(cfg)
