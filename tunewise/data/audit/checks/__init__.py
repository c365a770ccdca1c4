"""One module per audit check; importing this package registers them all, in the order the audit runs them."""
# ruff: noqa: I001  (the import order is the audit's order: rows first, then duplicates, labels, lengths, ...)

from tunewise.data.audit.checks import rows  # noqa: F401
from tunewise.data.audit.checks import duplicates  # noqa: F401
from tunewise.data.audit.checks import semantic_duplicate  # noqa: F401
from tunewise.data.audit.checks import conflicting_duplicate  # noqa: F401
from tunewise.data.audit.checks import label_issue  # noqa: F401
from tunewise.data.audit.checks import class_imbalance  # noqa: F401
from tunewise.data.audit.checks import length  # noqa: F401
from tunewise.data.audit.checks import leakage  # noqa: F401
from tunewise.data.audit.checks import pii  # noqa: F401
from tunewise.data.audit.checks import encoding  # noqa: F401
