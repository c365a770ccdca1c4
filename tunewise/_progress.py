"""Rich progress bars and console shared by every stage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None, visible: bool = True) -> Iterator[tuple[Progress, int]]:
    """Yield (progress, task id) for a bar that disappears into one summary line when done (``visible=False``:
    no bar at all, e.g. for one request at a time)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        disable=not visible,
    )
    with progress:
        task = progress.add_task(description, total=total, note="")
        yield progress, task


def quiet_libraries(debug: bool = False) -> None:
    """Keep the terminal for tunewise's own progress bars and tables; --debug shows everything."""
    import os
    import warnings

    if debug:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|peft)\.")
