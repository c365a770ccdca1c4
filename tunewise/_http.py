"""What every HTTP app of tunewise shares (the review app, the model server): a request body limit enforced before
any route runs."""

from __future__ import annotations

import json

MAX_BODY = 256 * 1024  # default: a review vote with its longest comment is a few kilobytes


class BodyLimit:
    """Answers 413 to a request body over ``max_bytes`` before any route runs (before authentication too): a
    declared Content-Length is checked first, and a body without one is read up to the limit, then handed on."""

    def __init__(self, app, max_bytes: int = MAX_BODY, refusal=None):
        self.app, self.max_bytes = app, max_bytes
        self.refusal = refusal or (lambda limit: {"detail": f"request body over {limit} bytes"})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return None
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                return await self._refuse(send)
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send):
        body = json.dumps(self.refusal(self.max_bytes)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
