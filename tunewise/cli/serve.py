"""`tunewise serve`: a finished run's fine-tuned model behind an HTTP API."""

from __future__ import annotations

import os
from pathlib import Path

from tunewise.cli.output import check_port_free, console, nonnegative, positive

API_KEY_VARIABLE = "TUNEWISE_API_KEY"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve a run's fine-tuned model over HTTP (OpenAI-style chat completions, classify)",
        description="Serve a finished run's fine-tuned model: POST /v1/chat/completions (OpenAI's request and "
        "answer format, plain or streamed; greedy answers), POST /v1/classify for classification runs (labels with "
        "probabilities), GET /health. Requests that arrive while the model is busy are answered together in one "
        "batch. Bodies over 1 MiB are refused (413). With --api-key (or the environment variable "
        f"{API_KEY_VARIABLE}) every route but /health needs 'Authorization: Bearer KEY'.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--api-key", help=f"bearer token clients must send (default: ${API_KEY_VARIABLE}, else none)")
    parser.add_argument("--max-batch", type=positive, default=32, help="requests answered together at most (32)")
    parser.add_argument(
        "--max-wait-ms",
        type=nonnegative,
        default=0.0,
        help="how long a request to an idle model waits for others to batch with (default 0: answered at once)",
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    import uvicorn

    from tunewise.serve.app import create_app
    from tunewise.serve.model import load_served

    check_port_free(args.host, args.port)
    api_key = args.api_key or os.environ.get(API_KEY_VARIABLE) or None
    served = load_served(args.run_dir)
    if args.host not in LOOPBACK and api_key is None:
        console.print(
            f"[yellow]warning:[/] listening on {args.host} without an API key: anyone who reaches it can use it"
        )
    app = create_app(served, api_key, args.max_batch, args.max_wait_ms / 1000)
    kind = "classification head" if served.head else f"{served.task} model"
    console.print(f"serving {served.name} ({kind}) on http://{args.host}:{args.port} ; Ctrl-C stops it")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
