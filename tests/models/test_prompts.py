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
