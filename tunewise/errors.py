"""The error the CLI turns into one clear line and exit code 2 (bad usage or input); anything else is exit 3."""


class TunewiseError(Exception):
    """Bad usage, config or input. The message names the file, line and field where one is known."""

    exit_code = 2


def where(path, line=None, field=None) -> str:
    """Format a location as ``file:line: field 'name'`` with the parts that are known."""
    text = str(path)
    if line is not None:
        text += f":{line}"
    if field is not None:
        text += f": field '{field}'"
    return text


class CheckFailed(TunewiseError):
    """A check on the work itself failed (e.g. an export that answers differently from the run): exit code 1."""

    exit_code = 1
