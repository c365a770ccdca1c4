"""Data: loading files into task records, turning records into conversations, splitting without leakage."""

from tunewise.data.load import Loaded, RowProblem, load_data, load_records

__all__ = ["Loaded", "RowProblem", "load_data", "load_records"]
