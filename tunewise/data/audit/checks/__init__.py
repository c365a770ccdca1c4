"""One module per audit check; importing this package registers them all."""

from tunewise.data.audit.checks import (  # noqa: F401
    class_imbalance,
    conflicting_duplicate,
    duplicates,
    encoding,
    label_issue,
    leakage,
    length,
    pii,
    rows,
    semantic_duplicate,
)
