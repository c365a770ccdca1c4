"""The `tunewise` command line: one module per command, each holding its parser and its handler; this module
builds the parser from them, calls the chosen handler and turns errors into exit codes.

Exit codes: 0 ok, 1 checks failed, 2 bad usage or input (config, data, model name), 3 internal error.
A new command is a new module here with ``add_parser(commands)`` (which sets ``handler``) and a line in COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from pydantic import ValidationError

from tunewise._progress import quiet_libraries
from tunewise.errors import TunewiseError

# modules that only the optional extras bring (pyproject.toml: review, serve, tune, track), and which extra
EXTRA_MODULES = {"sqlalchemy", "alembic", "krippendorff", "choix", "multipart", "fastapi", "uvicorn", "starlette"}
EXTRA_OF = {"optuna": "tune", "mlflow": "track"}
EXIT_OK, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 3, 130, 143


class Terminated(BaseException):
    """SIGTERM, handled like Ctrl-C: temporary outputs are removed on the way out and nothing half-written stays."""


def _terminate(signum, frame):
    raise Terminated()


COMMANDS = (
    "init",
    "run",
    "demo",
    "learning_curve",
    "tune",
    "select",
    "plan",
    "evaluate",
    "predict",
    "export",
    "serve",
    "compare",
    "report",
    "audit",
    "curate",
    "pool",
    "split",
    "inject",
    "models",
    "review",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunewise",
        description="Fine-tune LLMs that work: audit and split data, fine-tune with guards, evaluate base vs tuned.",
        epilog="Exit codes: 0 ok, 1 checks failed, 2 bad usage or input, 3 internal error.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tunewise.cli.{name}").add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries(args.debug)
    if args.debug:
        os.environ["TUNEWISE_DEBUG"] = "1"  # for the processes tunewise starts (e.g. `select` measurements)
    if threading.current_thread() is not threading.main_thread():
        return _handle(args)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _handle(args)
    finally:  # a caller that runs main() in its own process (tests, notebooks) keeps its own SIGTERM behaviour
        signal.signal(signal.SIGTERM, previous)


def _handle(args) -> int:
    """Run the command; turn every way it can end into an exit code and at most one-line messages."""
    try:
        return args.handler(args) or EXIT_OK
    except ValidationError as exc:  # a value set from the command line that the config model rejects
        if args.debug:
            raise
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "value"
            print(f"error: {key}: {error['msg']}", file=sys.stderr)
        return TunewiseError.exit_code
    except TunewiseError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:  # an optional extra the command needs is not installed
        module = (exc.name or "").split(".")[0]
        if module not in EXTRA_MODULES | EXTRA_OF.keys() or args.debug:
            raise
        extra = EXTRA_OF.get(module) or ("serve" if args.command == "serve" else "review")
        print(
            f"error: `tunewise {args.command}` needs the '{extra}' extra: pip install 'tunewise[{extra}]'",
            file=sys.stderr,
        )
        return TunewiseError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("interrupted (terminated)", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback for users
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
