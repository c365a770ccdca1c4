"""Proof that an export is the model the run evaluated: its answers on test rows, compared with the run's own."""

from __future__ import annotations

from tunewise.errors import CheckFailed


def agreement(found: list[str], expected: list[str]) -> float:
    """The share of rows where the two answers are the same (1.0 for no rows)."""
    if not expected:
        return 1.0
    return sum(a == b for a, b in zip(found, expected, strict=True)) / len(expected)


def minimum_agreement(fmt: str, precision: str) -> float:
    """The default share of equal answers an export must reach: a merged copy in the run's precision repeats the
    run (99.5 %), a 16-bit GGUF rounds weights (99 %), an 8-bit GGUF quantises them (95 %)."""
    if fmt == "merged":
        return 0.995
    return 0.95 if precision == "q8_0" else 0.99


def check_agreement(share: float, rows: int, minimum: float, what: str) -> None:
    """A failed check (exit 1) when the export answers differently from the run on too many rows."""
    if share < minimum:
        raise CheckFailed(
            f"{what}: agrees with the run's own predictions on {share:.1%} of {rows} test rows, under the "
            f"required {minimum:.1%}; nothing was written (try --dtype fp32, or lower --min-agreement knowingly)"
        )
