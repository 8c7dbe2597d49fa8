"""Official outcomes of real elections: the tally funds what the city funded.

Every ``.pb`` file in ``$PABULIB_DIR`` (default ``../shared/pabulib``) whose
META rule is a greedy rule of ours, whose vote type we count and whose
PROJECTS list the official ``selected`` column is one test: the funded set
must equal the projects with ``selected == 1`` (2 and 3 mean funded from
other money, so they are not the rule's outcome).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chalicelib.pabulib import read_pb
from chalicelib.tally import RULES, VOTE_TYPES, tally_election

pytestmark = pytest.mark.conformance

PABULIB_DIR = Path(
    os.environ.get(
        "PABULIB_DIR", Path(__file__).resolve().parents[3] / "shared" / "pabulib"
    )
)


def _has_official_outcome(path: Path) -> bool:
    election = read_pb(path)
    return (
        election.rule in RULES
        and election.vote_type in VOTE_TYPES
        and any("selected" in p.fields for p in election.projects)
    )


def _elections() -> list:
    if not PABULIB_DIR.is_dir():
        reason = f"no pabulib folder at {PABULIB_DIR} (set PABULIB_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    names = [
        p.name for p in sorted(PABULIB_DIR.glob("*.pb")) if _has_official_outcome(p)
    ]
    if not names:
        reason = f"no greedy elections with an official outcome in {PABULIB_DIR}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return names


@pytest.mark.parametrize("name", _elections())
def test_funded_set_is_the_official_one(name):
    election = read_pb(PABULIB_DIR / name)

    result = tally_election(election)

    assert result.rule == election.rule
    assert set(result.funded) == election.selected
    assert result.spent <= result.budget
