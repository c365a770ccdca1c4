"""Errors that the CLI turns into one clear line and an exit code (0 ok, 1 checks failed, 2 bad usage or input)."""


class TunewiseError(Exception):
    """Bad usage, config or input. The message names the file, line and field where one is known."""

    exit_code = 2


class ChecksFailed(TunewiseError):
    """The command ran, but a check it performs failed (for example a gating audit)."""

    exit_code = 1


def where(path, line=None, field=None) -> str:
    """Format a location as ``file:line: field 'name'`` with the parts that are known."""
    text = str(path)
    if line is not None:
        text += f":{line}"
    if field is not None:
        text += f": field '{field}'"
    return text
