"""The forgetting probe: perplexity on shipped general text, before and after tuning."""

import copy
import math

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tunewise.config import EvalConfig
from tunewise.evaluate.forgetting import forgetting_probe, general_texts, perplexity
from tunewise.evaluate.verdict import _forgetting_check


def test_general_texts_ship_with_the_package():
    texts = general_texts()
    assert len(texts) == 40 and all(len(t.split()) > 20 for t in texts)


def test_perplexity_is_the_exponent_of_the_models_own_loss(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    text = "where is my new card"
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = math.exp(float(model(input_ids=ids, labels=ids).loss))
    assert math.isclose(perplexity(model, tokenizer, [text]), expected, rel_tol=1e-5)


def test_a_damaged_model_shows_up_as_forgetting(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    texts = ["where is my new card", "how do i change my pin", "what is the exchange rate"]
    same = forgetting_probe(base, copy.deepcopy(base), tokenizer, texts)
    assert same["relative_change"] == 0 and _forgetting_check(same, 0.2)["passed"]
    fluent = copy.deepcopy(base)  # a "base model" that knows these texts well
    optimizer = torch.optim.Adam(fluent.parameters(), lr=1e-2)
    for _ in range(30):
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            fluent(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    probe = forgetting_probe(fluent, base, tokenizer, texts)  # "tuning" that lost all of it
    check = _forgetting_check(probe, EvalConfig().max_perplexity_increase)
    assert probe["relative_change"] > 0.2 and not check["passed"] and not check["blocking"]
    assert "overwrote some general ability" in check["message"]
