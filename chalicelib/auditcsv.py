"""The audit log as CSV, safe to open in a spreadsheet.

One row per entry, oldest first: ``entry_id, at, actor, action, reason,
before, after`` (``before`` and ``after`` as compact JSON). Any cell that a
spreadsheet would read as a formula, one starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return, gets a leading apostrophe, so a reason
typed as ``=HYPERLINK(...)`` stays text. The rule applies to every cell,
not only the free-text ones: it costs nothing and no column is forgotten.

Pure: :func:`audit_csv` is what both ``GET /staff/cycles/{id}/audit.csv``
and ``pbctl audit export`` write.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping

COLUMNS = ("entry_id", "at", "actor", "action", "reason", "before", "after")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as CSV cell text, with an apostrophe before a formula start."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def audit_csv(entries: Iterable[Mapping]) -> str:
    """Render audit entries (as ``Store.audit_entries`` returns them) as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow([safe_cell(entry.get(column)) for column in COLUMNS])
    return out.getvalue()
