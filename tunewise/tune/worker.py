"""One process of a search that runs trials side by side (`tune.workers` above 1): it opens the search's study and
runs its share of the trials on its device. Started by `tunewise.tune`, never by hand:

    python -m tunewise.tune.worker OUT INDEX COUNT TRIALS DEADLINE

OUT holds search.yaml (the config, the model already picked) and study.db; COUNT is this worker's share, TRIALS the
search's total (for the progress line), DEADLINE a time.time() after which no trial starts (0: none)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from tunewise.config import load_config
    from tunewise.errors import TunewiseError
    from tunewise.tune import open_study, prepare, run_trials

    out, index, count, trials, deadline = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    try:
        cfg = load_config(out / "search.yaml")
        search = prepare(cfg, out, write=False)  # the split the search wrote, computed again (same seed)
        run_trials(search, open_study(cfg, out, trials, worker=index), count, deadline or None, trials, worker=index)
    except TunewiseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
