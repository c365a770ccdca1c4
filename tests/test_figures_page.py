"""docs/figures.md is exactly what scripts/figures.py builds from benchmarks/results/*.json: a figure on the page
comes from a benchmark's recorded run (date, machine, command), never from a hand edit."""

import importlib.util
import json

from tests.conftest import REPO


def _figures_script():
    spec = importlib.util.spec_from_file_location("figures", REPO / "scripts" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_figures_page_is_built_from_the_recorded_results():
    figures = _figures_script()
    results = [json.loads(path.read_text()) for path in sorted(figures.RESULTS.glob("*.json"))]
    assert results, "no recorded benchmark results"
    for result in results:
        assert {"benchmark", "date", "command", "machine", "figures"} <= set(result), result.get("benchmark")
        assert result["command"].startswith(".venv/bin/python benchmarks/")
    assert figures.PAGE.read_text() == figures.page(results), "run python scripts/figures.py"


def test_a_section_says_when_where_and_how_a_figure_was_measured():
    figures = _figures_script()
    result = {
        "benchmark": "demo",
        "date": "2026-11-26",
        "command": ".venv/bin/python benchmarks/demo.py --rows 3",
        "machine": {"cpu": "EPYC", "cores": 2, "cpu_features": ["avx2"], "gpu": None, "torch": "2.13", "python": "3"},
        "figures": {"a": {"tokens_per_second": 376.7, "steps": 100}, "b": {"tokens_per_second": 235.0}, "ratio": 1.6},
    }
    text = "\n".join(figures.section(result))
    assert "measured 2026-11-26 on 2 × EPYC (avx2)" in text
    assert "`.venv/bin/python benchmarks/demo.py --rows 3`" in text
    assert "| a | 376.7 | 100 |" in text and "| b | 235 | - |" in text and "- ratio: 1.6" in text
