"""The published files of a cycle, and their check, without any IO."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.cycle import Cycle, Proposal, ballot_document, ballot_hash
from chalicelib.errors import InvalidInput
from chalicelib.importer import replay_calendar
from chalicelib.publish import ballots_csv, result_files
from chalicelib.verify import verify_result

pytestmark = pytest.mark.unit

NOW = datetime(2027, 5, 1, 15, 0, tzinfo=UTC)
BALLOTS = [
    (hashlib.sha256(f"receipt-{n}".encode()).hexdigest(), selections)
    for n, selections in enumerate(
        [("a",), ("b", "a"), ("b",), ("c/d",), ("c/d", "b"), ("c/d",)]
    )
]


def cycle(**changes) -> Cycle:
    base = Cycle(
        cycle_id="unit-2027",
        name="Unit cycle",
        budget_cap=1_000,
        selection_limit=2,
        min_voting_age=11,
        calendar=replay_calendar(NOW, timedelta(hours=1)),
        proposals=(
            Proposal("a", 600, {"en": "A"}),
            Proposal("b", 500, {"en": "B"}),
            Proposal("c/d", 400, {"en": "C and D"}),
        ),
    )
    return dataclasses.replace(base, **changes)


def test_the_opt_in_is_part_of_the_frozen_ballot_only_when_on():
    default, linked = cycle(), cycle(receipts_with_selections=True)

    assert "receipts_with_selections" not in ballot_document(default)
    assert ballot_document(linked)["receipts_with_selections"] is True
    assert ballot_hash(default) != ballot_hash(linked)


def test_the_setting_is_true_or_false():
    with pytest.raises(InvalidInput) as caught:
        cycle(receipts_with_selections="yes")
    assert caught.value.field == "receipts_with_selections"


def test_the_files_are_recorded_in_result_json_and_verify():
    files = result_files(cycle(), BALLOTS)

    result = json.loads(files["result.json"])
    for name, recorded in result["files"].items():
        assert recorded == "sha256:" + hashlib.sha256(files[name]).hexdigest()
    assert files["receipts.txt"].decode().split() == sorted(h for h, _ in BALLOTS)
    # An id a spreadsheet would run as a formula gets an apostrophe.
    header = files["ballots.csv"].decode().splitlines()[0]
    assert header == "ballot,a,b,c/d"
    assert not any(h in files["ballots.csv"].decode() for h, _ in BALLOTS)
    verdict = verify_result(
        files["result.json"],
        {n: files[n] for n in ("ballots.pb", "ballots.csv", "receipts.txt")},
    )
    assert verdict.differences == ()
    assert verdict.funded == tuple(result["funded"])


def test_the_same_ballots_in_any_order_give_the_same_bytes():
    assert result_files(cycle(), BALLOTS) == result_files(cycle(), BALLOTS[::-1])


def test_a_changed_tie_break_in_result_json_is_named():
    files = result_files(cycle(), BALLOTS)
    result = json.loads(files["result.json"])
    result["tie_break"] = "cost-asc"

    verdict = verify_result(
        json.dumps(result).encode(), {"ballots.pb": files["ballots.pb"]}
    )

    assert verdict.differences[0] == (
        'tie_break: result.json says "cost-asc", ballots.pb says "ballot-order"'
    )


def test_header_cells_are_formula_safe_whatever_the_ids():
    # Cycles refuse such ids now; the file stays safe for older ones.
    body = ballots_csv(["=b", "c d"], "ballot", [("1", ["=b"])])

    assert body.decode().splitlines() == ["ballot,'=b,c d", "1,1,0"]


def test_a_result_of_another_ballot_or_cycle_is_not_confirmed():
    files = result_files(cycle(), BALLOTS)
    for name, forged in (("ballot_hash", "sha256:" + "0" * 64), ("cycle_id", "other")):
        result = json.loads(files["result.json"])
        result[name] = forged

        verdict = verify_result(
            json.dumps(result).encode(), {"ballots.pb": files["ballots.pb"]}
        )

        assert not verdict.confirmed
        assert any(
            d.startswith(f"{name}: result.json says") for d in verdict.differences
        )
