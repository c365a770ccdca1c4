"""`tunewise serve` under load: 16 concurrent clients against one-at-a-time requests, in the same run, on the
same server process and the same queries.

The server is started as a user would (`tunewise serve RUN`, a separate process, 127.0.0.1); the clients run in
this process (asyncio + httpx), one query per request to POST /v1/classify (or /v1/chat/completions for a run
that is not a classification run). Both arms are warmed up the same way: one pass of --warm-up requests each,
before any timing. Every answer is compared with the run's own evaluated answer for that query, so a lost,
failed or swapped answer shows as a mismatch.

Caveat: clients and server share this machine's cores, so the clients' own work is part of both arms' figures.

Usage: .venv/bin/python benchmarks/serve_load.py runs/demo [--clients 16] [--requests 240] [--port 8791]
Writes benchmarks/results/serve_load.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def load(base: str, queries: list[dict], clients: int, classify: bool) -> dict:
    """``queries`` sent by ``clients`` concurrent clients, each taking the next query when its last one is done."""
    pending = list(enumerate(queries))
    latencies, answers = [], [None] * len(queries)

    async def client(http: httpx.AsyncClient):
        while pending:
            index, query = pending.pop(0)
            started = time.perf_counter()
            if classify:
                response = await http.post("/v1/classify", json={"input": query["input"]})
            else:
                messages = [{"role": "user", "content": query["input"]}]
                response = await http.post("/v1/chat/completions", json={"messages": messages})
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                found = response.json()
                answers[index] = found["data"][0]["label"] if classify else found["choices"][0]["message"]["content"]

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    seconds = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(queries),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(queries) / seconds, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
        "answered": sum(a is not None for a in answers),
        "same_as_run": sum(a == q["tuned"] for a, q in zip(answers, queries, strict=True)),
    }


def measured(base: str, queries: list[dict], clients: int, classify: bool) -> dict:
    """One arm, with the server's own count of batches and model-busy seconds during it."""
    before = httpx.get(f"{base}/health").json()
    found = asyncio.run(load(base, queries, clients, classify))
    after = httpx.get(f"{base}/health").json()
    batches = after["batches"] - before["batches"]
    busy = after["busy_seconds"] - before["busy_seconds"]
    found.update(
        batches=batches,
        mean_batch=round(found["requests"] / batches, 1),
        model_ms_per_batch=round(1000 * busy / batches, 1),
        model_busy_share=round(busy / found["seconds"], 2),
    )
    return found


def model_alone(run: Path, queries: list[dict], batch: int) -> dict:
    """The served model's own speed with no server: rows/s one at a time and in batches of ``batch``, on the main
    thread, after the same warm-up. Their ratio bounds what dynamic batching can gain on this machine."""
    from tunewise.serve.model import answer_batch, load_served

    served = load_served(run)
    items = [
        ("classify", q["input"], 0)
        if "tuned_top" in q
        else ("chat", [{"role": "user", "content": q["input"]}], served.cfg.eval.max_new_tokens)
        for q in queries
    ]
    answer_batch(served, items[:batch])
    started = time.perf_counter()
    for item in items[: 4 * batch]:
        answer_batch(served, [item])
    alone = 4 * batch / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, 4 * batch, batch):
        answer_batch(served, items[start : start + batch])
    together = 4 * batch / (time.perf_counter() - started)
    return {
        "one_row_per_second": round(alone, 1),
        "batched_rows_per_second": round(together, 1),
        "ratio": round(together / alone, 2),
    }


def start_server(run: Path, port: int, max_wait_ms: float | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "tunewise", "serve", str(run), "--port", str(port)]
    command += ["--max-wait-ms", str(max_wait_ms)] if max_wait_ms is not None else []
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read().decode()}")
    raise SystemExit("the server did not answer /health within 5 minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--warm-up", type=int, default=32)
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--max-wait-ms", type=float, help="the server's --max-wait-ms (default: its own default)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "evaluate" / "predictions.jsonl").open()]
    queries = (rows * (1 + args.requests // len(rows)))[: args.requests]
    classify = "tuned_top" in rows[0] or json.loads((args.run / "summary.json").read_text())["task"] == "classification"
    base = f"http://127.0.0.1:{args.port}"
    server = start_server(args.run, args.port, args.max_wait_ms)
    try:
        for clients in (1, args.clients):  # the same warm-up for both arms
            asyncio.run(load(base, queries[: args.warm_up], clients, classify))
        alone = measured(base, queries, 1, classify)
        together = measured(base, queries, args.clients, classify)
        health = httpx.get(f"{base}/health").json()
    finally:
        server.terminate()
        server.wait(30)
    print(f"{'':<22}{'one at a time':>15}{f'{args.clients} clients':>15}")
    keys = ("requests_per_second", "p50_ms", "p95_ms", "p99_ms", "answered", "same_as_run", "mean_batch")
    keys = (*keys, "model_ms_per_batch", "model_busy_share")
    for key in keys:
        print(f"{key:<22}{alone[key]:>15}{together[key]:>15}")
    ratio = together["requests_per_second"] / alone["requests_per_second"]
    ceiling = model_alone(args.run, queries, args.clients)
    print(
        f"throughput ratio {ratio:.2f}x (largest batch {health['largest_batch']}); the model alone, in this process "
        f"without HTTP: {ceiling['one_row_per_second']} rows/s one at a time, {ceiling['batched_rows_per_second']} "
        f"in batches of {args.clients} ({ceiling['ratio']}x: the most batching can give here)"
    )
    figures = {
        "one at a time": {key: alone[key] for key in keys},
        f"{args.clients} clients": {key: together[key] for key in keys},
        "throughput ratio": round(ratio, 2),
        "largest batch": health["largest_batch"],
        "model alone, one row at a time (rows/s)": ceiling["one_row_per_second"],
        f"model alone, batches of {args.clients} (rows/s)": ceiling["batched_rows_per_second"],
        "model alone ratio (the most batching can give)": ceiling["ratio"],
    }
    note = f"run {args.run}, {args.requests} requests, same warm-up for both arms; clients share the server's cores"
    record("serve_load", figures, note=note)


if __name__ == "__main__":
    main()
