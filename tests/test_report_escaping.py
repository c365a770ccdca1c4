"""Untrusted text (labels, metadata values) in the report: escaped in HTML and Markdown, literal in plots."""

from tunewise.report import _markdown_cell
from tunewise.report.plots import confusion_heatmap, slice_bars


def test_markdown_cells_cannot_break_tables_or_inject_html():
    cell = _markdown_cell("a|b\nc <img src=x onerror=alert(1)>")
    assert "|" not in cell.replace("\\|", "") and "\n" not in cell and "<img" not in cell


def test_dollar_signs_in_labels_are_drawn_literally():
    confusion = {"labels": ["$x^$", "fee $5"], "matrix": [[1, 0], [1, 1]]}
    assert confusion_heatmap(confusion)[:8] == b"\x89PNG\r\n\x1a\n"
    slices = [{"field": "label", "value": "$x^$", "n": 2, "score": 0.5, "ci": [0.0, 1.0]}]
    assert slice_bars(slices)[:4] == b"\x89PNG"
