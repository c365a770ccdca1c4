"""The model server's routes: OpenAI-style ``POST /v1/chat/completions`` (plain and streamed), ``POST
/v1/classify`` for classification runs, ``GET /health``. Errors are OpenAI-style JSON bodies with the right status;
an optional bearer token guards every route but the health check."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunewise._http import BodyLimit
from tunewise.serve.batcher import Batcher
from tunewise.serve.model import Served, answer_batch, prompt_length, token_count

MAX_BODY = 1024 * 1024  # a long conversation is tens of kilobytes
MAX_INPUTS = 256  # texts in one /v1/classify request
WARM_UP = [{"role": "user", "content": "hello"}]


class ServeError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[dict]

    def text(self) -> str:
        """OpenAI's content may be a list of parts; the text parts are joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields (temperature, top_p, …) that greedy ignores

    messages: list[Message] = Field(min_length=1)
    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stream: bool = False
    n: int = 1

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n = 1 is served (answers are greedy: every choice would be the same)")
        return value


class ClassifyRequest(BaseModel):
    input: str | list[str]

    @field_validator("input")
    @classmethod
    def _some_texts(cls, value):
        texts = [value] if isinstance(value, str) else value
        if not texts or len(texts) > MAX_INPUTS:
            raise ValueError(f"give 1 to {MAX_INPUTS} texts")
        if not all(t.strip() for t in texts):
            raise ValueError("a text is empty")
        return value


def create_app(served: Served, api_key: str | None = None, max_batch: int = 32, max_wait: float = 0.0) -> FastAPI:
    batcher = Batcher(lambda items: answer_batch(served, items), max_batch, max_wait)
    limit = served.cfg.eval.max_new_tokens

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        warm_up = ("classify", "hello", 0) if served.classifies else ("chat", WARM_UP, 1)
        await batcher.run([warm_up])  # the first request does not pay for lazy setup
        yield
        await batcher.stop()

    # no /docs or /openapi.json: the API is described in the README, and nothing is served without the key
    app = FastAPI(
        title=f"tunewise serve: {served.name}", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY, refusal=lambda n: _error_body(f"request body over {n} bytes"))

    def authorised(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(token.encode(), api_key.encode()):
            raise ServeError(401, "missing or wrong API key (Authorization: Bearer KEY)", "authentication_error")

    @app.exception_handler(ServeError)
    async def _served_error(request, exc: ServeError):
        return JSONResponse(_error_body(exc.message, exc.kind, exc.param), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            return JSONResponse(_error_body("the body is not valid JSON"), status_code=400)
        param = ".".join(str(p) for p in first["loc"] if p != "body") or None
        return JSONResponse(_error_body(f"{param}: {first['msg']}" if param else first["msg"], param=param), 400)

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):  # a bug: a JSON body like every other error, no internals
        return JSONResponse(_error_body("internal error while answering", "server_error"), status_code=500)

    def checked_prompt(kind: str, payload, budget: int) -> int:
        try:
            return prompt_length(served, kind, payload, budget)
        except ValueError as exc:
            raise ServeError(400, str(exc), param="messages" if kind == "chat" else "input") from None

    @app.get("/health")
    async def health():
        return {
            "status": "ok",
            "model": served.name,
            "task": served.task,
            "head": served.head,
            "labels": len(served.labels or []),
            "requests": batcher.requests,
            "batches": batcher.batches,
            "largest_batch": batcher.largest,
            "worker_running": batcher.running,
            "busy_seconds": round(batcher.busy, 2),
        }

    @app.post("/v1/classify", dependencies=[Depends(authorised)])
    async def classify(body: ClassifyRequest):
        if not served.classifies:
            raise ServeError(400, f"this run is a {served.task} run: POST /v1/chat/completions", param="input")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not served.head:  # a head truncates its text itself; label decoding reads the whole prompt
            for text in texts:
                checked_prompt("classify", text, 16)
        found = await asyncio.gather(*(batcher.submit(("classify", text, 0)) for text in texts))
        data = [
            {"index": i, "label": f["label"], "top": [{"label": lb, "probability": p} for lb, p in f["top"] or []]}
            for i, f in enumerate(found)
        ]
        return {"object": "list", "model": served.name, "data": data}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)])
    async def chat(body: ChatRequest):
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        if messages[-1]["role"] != "user":
            raise ServeError(400, "the last message must be the user's", param="messages")
        budget = min(body.max_completion_tokens or body.max_tokens or limit, limit)  # capped by eval.max_new_tokens
        prompt = checked_prompt("chat", messages, budget)
        found = await batcher.submit(("chat", messages, budget))
        text, ident, created = found["text"], f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        completion = token_count(served, text)
        finish = "length" if not served.classifies and completion >= budget else "stop"
        if body.stream:
            chunks = _chunks(ident, created, served.name, text, finish)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": served.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    return app


def _chunks(ident: str, created: int, model: str, text: str, finish: str):
    """The answer as OpenAI's server-sent events: the role, the text, the finish, then [DONE]. The text is whole:
    the batch is generated together, so it is sent when it is done, not token by token."""
    head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
    for delta, reason in (({"role": "assistant"}, None), ({"content": text}, None), ({}, finish)):
        yield f"data: {json.dumps({**head, 'choices': [{'index': 0, 'delta': delta, 'finish_reason': reason}]})}\n\n"
    yield "data: [DONE]\n\n"


def _error_body(message: str, kind: str = "invalid_request_error", param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}
