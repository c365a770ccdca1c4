"""Data: loading files into task records, conversations from records, the audit and curation, fault injection, and
the leakage-free split (the split stage of a run)."""

from tunewise.data.load import Loaded, RowProblem, load_data, load_records

__all__ = ["Loaded", "RowProblem", "load_data", "load_records"]
