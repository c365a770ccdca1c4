"""`tunewise serve`: the served answers are the run's evaluated answers, concurrent requests are batched and each
gets its own answer, the OpenAI client works against it, and bad requests get OpenAI-style errors."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.serve.app import MAX_BODY, create_app
from tunewise.serve.model import load_served


@pytest.fixture(scope="module")
def runs(finished_runs, tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    chats = [
        {"messages": [{"role": "user", "content": r["text"]}, {"role": "assistant", "content": f"about {r['label']}"}]}
        for r in classification_rows()
    ]
    write_jsonl(folder / "chats.jsonl", chats)
    config = make_config(folder, tiny_model_dir, "chats.jsonl", "  compare_base: false\n")
    assert main(["run", str(config), "--out", str(folder / "chat")]) == 0
    return {"head": finished_runs["classify"], "decode": finished_runs["generate"], "chat": folder / "chat"}


def evaluated(run) -> list[dict]:
    return [json.loads(line) for line in (run / "evaluate" / "predictions.jsonl").open()]


@pytest.fixture(scope="module")
def head_app(runs):
    return create_app(load_served(runs["head"]))


def test_a_head_classifies_as_the_run_evaluated_with_probabilities(runs, head_app):
    rows = evaluated(runs["head"])
    with TestClient(head_app) as client:
        answered = client.post("/v1/classify", json={"input": [r["input"] for r in rows]})
        single = client.post("/v1/classify", json={"input": rows[0]["input"]})
        chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": rows[0]["input"]}]})
    assert answered.status_code == 200
    data = answered.json()["data"]
    assert [d["label"] for d in data] == [r["tuned"] for r in rows]
    assert [[[t["label"], t["probability"]] for t in d["top"]] for d in data] == [r["tuned_top"] for r in rows]
    assert single.json()["data"][0]["label"] == rows[0]["tuned"]
    assert chat.json()["choices"][0]["message"]["content"] == rows[0]["tuned"]  # a classifier answers its label


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(runs, head_app):
    rows = evaluated(runs["head"]) * 4

    async def clients():
        async with head_app.router.lifespan_context(head_app):
            transport = httpx.ASGITransport(app=head_app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answers = await asyncio.gather(*(client.post("/v1/classify", json={"input": r["input"]}) for r in rows))
                return answers, (await client.get("/health")).json()

    answers, health = asyncio.run(clients())
    assert [a.json()["data"][0]["label"] for a in answers] == [r["tuned"] for r in rows]
    assert health["requests"] == len(rows) and health["batches"] < len(rows) and health["largest_batch"] > 1


def test_a_label_decoding_run_classifies_without_probabilities(runs):
    rows = evaluated(runs["decode"])
    with TestClient(create_app(load_served(runs["decode"]))) as client:
        data = client.post("/v1/classify", json={"input": [r["input"] for r in rows]}).json()["data"]
    assert [d["label"] for d in data] == [r["tuned"] for r in rows] and all(d["top"] == [] for d in data)


def test_a_chat_run_answers_openai_clients_plain_and_streamed(runs):
    import openai

    rows = evaluated(runs["chat"])[:4]
    app = create_app(load_served(runs["chat"]), api_key="s3cret")
    with TestClient(app) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="s3cret", http_client=http)
        for row in rows:
            asked = [{"role": "user", "content": row["input"]}]
            answer = client.chat.completions.create(model="chat", messages=asked)
            assert answer.choices[0].message.content == row["tuned"]
            assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0
            streamed = client.chat.completions.create(model="chat", messages=asked, stream=True)
            assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == row["tuned"]
        wrong = openai.OpenAI(base_url="http://testserver/v1", api_key="nope", http_client=http, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert http.get("/health").status_code == 200  # the health check needs no key
        refused = http.post("/v1/classify", json={"input": "hi"}, headers={"Authorization": "Bearer s3cret"})
        assert refused.status_code == 400 and "POST /v1/chat/completions" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b'{"input": [', 400, "not valid JSON"),
        (b'{"inputs": "x"}', 400, "input: Field required"),
        (b'{"input": []}', 400, "give 1 to 256 texts"),
        (b'{"input": ["ok", "  "]}', 400, "a text is empty"),
        (b'{"input": 7}', 400, "input"),
        (json.dumps({"input": "x" * (MAX_BODY + 1)}).encode(), 413, f"over {MAX_BODY} bytes"),
    ],
)
def test_bad_classify_requests_get_an_openai_style_error(head_app, body, status, words):
    with TestClient(head_app) as client:
        answered = client.post("/v1/classify", content=body, headers={"content-type": "application/json"})
    assert answered.status_code == status and words in answered.json()["error"]["message"]
    assert answered.json()["error"]["type"] == "invalid_request_error"


def test_bad_chat_requests_get_an_openai_style_error(head_app):
    with TestClient(head_app) as client:
        user = {"role": "user", "content": "hi"}
        for body, words in (
            ({"messages": []}, "messages"),
            ({"messages": [user], "n": 2}, "only n = 1"),
            ({"messages": [user, {"role": "assistant", "content": "x"}]}, "the last message must be the user's"),
            ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
            ({"messages": [user], "max_tokens": 0}, "max_tokens"),
        ):
            answered = client.post("/v1/chat/completions", json=body)
            assert answered.status_code == 400 and words in answered.json()["error"]["message"], body


def test_the_command_refuses_an_unfinished_run_and_a_busy_port(runs, tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    assert "not a tunewise run directory" in capsys.readouterr().err
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["serve", str(runs["head"]), "--port", str(port)]) == 2
    assert "cannot listen there" in capsys.readouterr().err


def test_a_request_that_fails_alone_does_not_fail_its_batch_and_waits_never_hang():
    from tunewise.serve.batcher import Batcher

    def work(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    async def scenario():
        batcher = Batcher(work, max_batch=8, max_wait=0.05)  # waits for company: the timeout path runs too
        await batcher.start()
        found = await asyncio.gather(*(batcher.submit(x) for x in ("a", "bad", "c")), return_exceptions=True)
        lone = await batcher.submit("d")
        await batcher.stop()
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit("e")
        return found, lone, batcher.batches

    found, lone, batches = asyncio.run(scenario())
    assert found[0] == "A" and found[2] == "C" and isinstance(found[1], ValueError)
    assert lone == "D" and batches == 2  # the three together, then the lone one


def test_prompts_beyond_the_context_and_answers_cut_short_are_reported(runs):
    with TestClient(create_app(load_served(runs["chat"]))) as client:
        long = " ".join(["card"] * 400)  # the fixture model reads 256 positions
        answered = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": long}]})
        assert answered.status_code == 400 and "exceeds the model's 256" in answered.json()["error"]["message"]
        short = client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        ).json()
        assert short["choices"][0]["finish_reason"] == ("length" if short["usage"]["completion_tokens"] else "stop")
        assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
        assert client.get("/health").json()["worker_running"] is True
