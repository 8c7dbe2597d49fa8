"""Paper batches without IO: agreement, the sheet groups of a count, the plan."""

from __future__ import annotations

import pytest

from chalicelib.paper import (
    COMMITTING,
    REFUSED_DUPLICATE,
    SHEET_ITEMS_PER_TRANSACTION,
    Batch,
    Entry,
    Sheet,
    differing_sheets,
    paper_ballot_id,
    plan_count,
    sheet_groups,
)

pytestmark = pytest.mark.unit

SECRET = b"k" * 32


def entry(entry_id: str, *sheets: Sheet) -> Entry:
    return Entry(
        cycle_id="c",
        batch_id="b",
        entry_id=entry_id,
        subject=entry_id,
        actor=f"staff:{entry_id}",
        at="2027-05-01T12:00:00Z",
        sheet_count=len(sheets),
        spoiled_count=sum(s.spoiled for s in sheets),
        sheets=sheets,
    )


def batch() -> Batch:
    return Batch(
        cycle_id="c",
        batch_id="b",
        site="Dudley Branch",
        cover_sheets=9,
        status=COMMITTING,
        registered_by="staff:x",
        registered_at="2027-05-01T12:00:00Z",
        counted_on="2027-05-01",
    )


def voter(n: int) -> Sheet:
    return Sheet(selections=("p1",), voter_key=f"c#{n:064x}", age_bracket="25-34")


def test_sheets_that_differ_are_named_from_one_missing_ones_included():
    a = entry("e1", voter(1), voter(2), Sheet(spoiled=True))
    b = entry("e2", voter(1), voter(3))

    assert differing_sheets([a, b]) == (2, 3)
    assert differing_sheets([a, a]) == ()


def test_groups_never_exceed_a_transaction_and_keep_the_order():
    writes, _ = plan_count(
        SECRET,
        batch(),
        tuple(voter(n) if n % 3 else Sheet(selections=("p2",)) for n in range(1, 251)),
    )

    groups = sheet_groups(writes)

    assert all(sum(w.items for w in g) <= SHEET_ITEMS_PER_TRANSACTION for g in groups)
    assert [w.sheet for g in groups for w in g] == list(range(1, 251))
    assert len(groups) == 5  # 250 sheets, 167 with a mark: 417 items


def test_the_plan_refuses_ineligible_and_repeated_voters_and_skips_spoiled():
    sheets = (
        voter(1),
        Sheet(spoiled=True),
        Sheet(selections=("p1",), refusal="UNDER_AGE"),
        voter(1),
        Sheet(selections=("p3",)),
    )

    writes, decided = plan_count(SECRET, batch(), sheets)

    assert [w.sheet for w in writes] == [1, 5]
    assert decided.spoiled == (2,)
    assert decided.refused == ((3, "UNDER_AGE"), (4, REFUSED_DUPLICATE))
    assert [w.items for w in writes] == [2, 1]


def test_ballot_ids_are_stable_per_sheet_and_differ_between_sheets():
    first = paper_ballot_id(SECRET, "c", "b", 1)

    assert first == paper_ballot_id(SECRET, "c", "b", 1)
    assert first != paper_ballot_id(SECRET, "c", "b", 2)
    assert first != paper_ballot_id(SECRET, "c", "b2", 1)
    assert first != paper_ballot_id(b"other" * 8, "c", "b", 1)
    assert len(first) == 64
