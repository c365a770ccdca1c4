"""The report page renders in a real browser (headless Chromium): the verdict is in the DOM, the page is not blank."""

import shutil
import subprocess

import numpy as np
import pytest

from tests.conftest import classification_rows, require, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.pipeline import run
from tunewise.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tiny_model_dir, tmp_path):
    require(CHROMIUM is not None, "chromium", "apt-get install chromium; make test installs it as root")
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    run(load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl")), tmp_path / "run")
    page = write_report(tmp_path / "run")["html"]
    dumped = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            f"file://{page}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "NO-GO" in dumped.stdout
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,2400",
            f"--screenshot={screenshot}",
            f"file://{page}",
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    image = Image.open(screenshot).convert("L")
    assert image.size == (1100, 2400)
    assert len(np.unique(np.asarray(image))) > 50, "the screenshot is not a blank page"
