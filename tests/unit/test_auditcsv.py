"""The audit CSV keeps every cell text: no formula reaches a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from chalicelib.auditcsv import COLUMNS, audit_csv, safe_cell

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain reason", "plain reason"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        ({"phase": "voting"}, '{"phase": "voting"}'),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_the_csv_round_trips_with_defused_cells():
    entries = [
        {
            "entry_id": "1",
            "at": "2027-01-01T00:00:00Z",
            "actor": "staff:maria",
            "action": "phase_changed",
            "reason": '=HYPERLINK("http://127.0.0.1","x"), and "quotes"\nnext line',
            "before": {"phase": "scheduled"},
            "after": None,
        }
    ]

    text = audit_csv(entries)

    assert text.startswith(",".join(COLUMNS) + "\r\n")
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["reason"] == "'" + entries[0]["reason"]
    assert row["before"] == '{"phase": "scheduled"}'
    assert row["after"] == ""
