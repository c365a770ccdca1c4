"""Atomic file writes and hashing: a run directory never holds a half-written file."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

HOST = socket.gethostname().replace(".", "_")


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{HOST}-{os.getpid()}."


def remove_stale_temporaries(path: Path) -> None:
    """Remove what a killed writer of ``path`` on this machine left behind (temporary files or folders named with
    its host and process id); a live writer keeps its own, and another machine's (a shared disk) are left alone."""
    for leftover in Path(path).parent.glob(f".{glob.escape(Path(path).name)}.{glob.escape(HOST)}-*.tmp"):
        pid = leftover.name[len(Path(path).name) + len(HOST) + 3 :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary sibling, then rename it over ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary sibling, then rename it over ``path``."""
    atomic_write_files({path: data})
    return Path(path)


def atomic_write_files(contents: dict[Path, str | bytes]) -> None:
    """Several files written as a set: every one goes to a temporary sibling first, and the renames into place
    happen only once all of them are written (a failure leaves none of them changed)."""
    staged = []
    try:
        for path, data in contents.items():
            staged.append((_staged(Path(path), data.encode("utf-8") if isinstance(data, str) else data), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _staged(path: Path, data: bytes) -> str:
    """``data`` written and synced to a temporary sibling of ``path`` (named with this host and process)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json_text(data))


def jsonl_text(rows: Iterable[dict]) -> str:
    """Rows as JSON Lines, one object per line (text kept as it is: ``ensure_ascii=False``)."""
    return "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)


def atomic_write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, jsonl_text(rows))


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only once the block finishes without error."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    old = path.with_name(f".{path.name}.old")
    if old.is_dir() and not path.exists():  # a writer was killed between its two renames: put the old set back
        os.replace(old, path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp"))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
        replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(finished: Path, path: Path) -> None:
    """Put the finished directory in place of ``path`` (which may exist) by renames only."""
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(finished, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(finished, path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_jsonl(path: Path, missing_ok: bool = False) -> list[dict]:
    if missing_ok and not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_jsonl_objects(path: Path) -> list[tuple[int, dict]]:
    """``(line number, object)`` for every non-blank line; a missing file, bad JSON or a non-object line is a
    TunewiseError naming the file and line."""
    from tunewise.errors import TunewiseError, where

    try:
        # "\n" only: splitlines() would also split inside a text holding U+2028 or U+0085, which JSON keeps raw
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise TunewiseError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TunewiseError(f"{path}: cannot read it ({exc})") from None
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TunewiseError(f"{where(path, number)}: invalid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise TunewiseError(f"{where(path, number)}: expected a JSON object")
        found.append((number, row))
    return found
