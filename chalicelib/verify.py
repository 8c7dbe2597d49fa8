"""Check a published result against the published ballots, as anyone can.

:func:`verify_result` takes the bytes of ``result.json`` and of the other
published files at hand (``ballots.pb`` always; ``ballots.csv``,
``receipts.txt`` and ``ballots-by-receipt.csv`` when given), and returns a
:class:`Verdict`: the list of everything that differs, empty when the result
is confirmed. It checks

- each file's SHA-256 against the digest ``result.json`` records under
  ``files``;
- that ``result.json`` and the META of ``ballots.pb`` state the same rules
  (rule, vote type, budget, tie-break, threshold);
- a fresh tally of the ballots in ``ballots.pb`` by :mod:`chalicelib.tally`
  under those rules against the recorded outcome: funded proposals and their
  order, every proposal's votes, rank, reason and spending, the money spent
  and left, the number of ballots and their hash;
- the ``votes`` and ``selected`` columns of ``ballots.pb`` against the same
  tally; ``ballots.csv`` against the ballots of ``ballots.pb``;
  ``receipts.txt`` for shape (sorted, distinct SHA-256 hex) and count;
  ``ballots-by-receipt.csv`` (published only by a cycle that opted in)
  against the ballots of ``ballots.pb`` and the hashes of ``receipts.txt``.

A file that cannot be read at all raises :class:`InvalidInput` (or
:class:`PabulibFormatError` for ``ballots.pb``): that is not a verdict.

Pure: no AWS, no Chalice.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Mapping

from chalicelib.auditcsv import safe_cell
from chalicelib.errors import InvalidInput
from chalicelib.pabulib import Election, parse_pb, to_units
from chalicelib.publish import (
    BALLOTS_BY_RECEIPT,
    BALLOTS_CSV,
    BALLOTS_PB,
    RECEIPTS,
    digest,
)
from chalicelib.tally import TallyResult, tally_election

#: What result.json must hold for a recount to be compared with it.
REQUIRED_KEYS = (
    "rule",
    "vote_type",
    "tie_break",
    "min_score",
    "budget",
    "spent",
    "remaining",
    "funded",
    "proposals",
    "ballots_counted",
    "ballots_hash",
)
PROPOSAL_FIELDS = ("rank", "votes", "cost", "funded", "reason", "spent_after")
_RECEIPT_HASH = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of a verification: ``differences`` empty means confirmed."""

    cycle_id: str
    ballots: int
    funded: tuple[str, ...]
    checked: tuple[str, ...]
    differences: tuple[str, ...]

    @property
    def confirmed(self) -> bool:
        return not self.differences


def verify_result(result_json: bytes, files: Mapping[str, bytes]) -> Verdict:
    """Compare ``result_json`` with the published ``files`` (name -> bytes).

    ``files`` must hold ``ballots.pb``; ``ballots.csv`` and ``receipts.txt``
    are checked when present. Returns a :class:`Verdict`. Raises
    :class:`InvalidInput` when ``result.json`` is not a result or a file
    cannot be decoded, :class:`PabulibFormatError` for a malformed
    ``ballots.pb``.
    """
    result = _load_result(result_json)
    differences: list[str] = []
    checked: list[str] = []

    recorded = result.get("files")
    recorded = recorded if isinstance(recorded, dict) else {}
    for name in sorted(files):
        checked.append(f"digest of {name}")
        if name not in recorded:
            differences.append(f"{name}: result.json records no digest for it")
        elif digest(files[name]) != recorded[name]:
            differences.append(
                f"{name}: its SHA-256 is {digest(files[name])}, result.json "
                f"records {recorded[name]}"
            )

    election = parse_pb(_text(files[BALLOTS_PB], BALLOTS_PB), source=BALLOTS_PB)
    differences += _compare_rules(result, election)
    checked.append("rules in result.json against the META of ballots.pb")
    recount = _recount(result, election)
    differences += _compare_outcome(result, recount)
    checked.append(
        f"a recount of the {recount.ballots_counted} ballots in ballots.pb "
        f"({recount.rule}, tie-break {recount.tie_break})"
    )
    differences += _compare_pb_columns(election, recount)
    if BALLOTS_CSV in files:
        differences += _compare_ballots_csv(files[BALLOTS_CSV], election)
        checked.append("ballots.csv against the ballots of ballots.pb")
    if RECEIPTS in files:
        differences += _check_receipts(files[RECEIPTS], recount.ballots_counted)
        checked.append("receipts.txt: sorted, distinct, one per ballot")
    if BALLOTS_BY_RECEIPT in files:
        differences += _compare_by_receipt(
            files[BALLOTS_BY_RECEIPT], election, files.get(RECEIPTS)
        )
        checked.append(f"{BALLOTS_BY_RECEIPT} against ballots.pb and receipts.txt")
    return Verdict(
        cycle_id=str(result.get("cycle_id", "")),
        ballots=recount.ballots_counted,
        funded=recount.funded,
        checked=tuple(checked),
        differences=tuple(differences),
    )


def _load_result(data: bytes) -> dict:
    try:
        result = json.loads(_text(data, "result.json"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"result.json is not JSON (line {exc.lineno}).", field="result.json"
        ) from exc
    if not isinstance(result, dict):
        raise InvalidInput("result.json is not a JSON object.", field="result.json")
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise InvalidInput(
            f"result.json lacks {', '.join(missing)}; it is not a published result.",
            field="result.json",
        )
    proposals = result["proposals"]
    if not isinstance(proposals, list) or not all(
        isinstance(p, dict) and "proposal_id" in p for p in proposals
    ):
        raise InvalidInput(
            "result.json's proposals are not a list of proposals.",
            field="result.json",
        )
    return result


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{name} is not UTF-8 text (byte {exc.start}).", field=name
        ) from exc


def _differs(what: str, published: object, recounted: object, source: str) -> str:
    return f"{what}: result.json says {_show(published)}, {source} {_show(recounted)}"


def _show(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _compare_rules(result: dict, election: Election) -> list[str]:
    """Where both files state a rule, they must state the same one."""
    meta = election.meta
    said = "ballots.pb says"
    differences = []
    if meta.get("rule") and meta["rule"] != result["rule"]:
        differences.append(_differs("rule", result["rule"], meta["rule"], said))
    if election.vote_type != result["vote_type"]:
        differences.append(
            _differs("vote_type", result["vote_type"], election.vote_type, said)
        )
    # The frozen ballot announced when voting opened, and the cycle: a result
    # of another ballot or cycle is no confirmation of this one.
    for name, key in (("ballot_hash", "ballot_hash"), ("cycle_id", "instance")):
        if key in meta and meta[key] != str(result.get(name) or ""):
            differences.append(_differs(name, result.get(name), meta[key], said))
    if meta.get("tie_break") and meta["tie_break"] != result["tie_break"]:
        differences.append(
            _differs("tie_break", result["tie_break"], meta["tie_break"], said)
        )
    scale = result.get("scale", 1)
    if not isinstance(scale, int) or scale < 1:
        raise InvalidInput("result.json's scale is not a whole number.", field="scale")
    if to_units(election.budget, scale) != result["budget"]:
        differences.append(
            _differs("budget", result["budget"], to_units(election.budget, scale), said)
        )
    if result["rule"] == "greedy-threshold":
        threshold = election.min_project_score_threshold
        if threshold != result["min_score"]:
            differences.append(
                _differs("min_score", result["min_score"], threshold, said)
            )
    return differences


def _recount(result: dict, election: Election) -> TallyResult:
    """Tally ``election`` under the rule and tie-break ``result`` records."""
    return tally_election(
        election, rule=str(result["rule"]), tie_break=str(result["tie_break"])
    )


def _compare_outcome(result: dict, recount: TallyResult) -> list[str]:
    said = "the recount gives"
    differences = []
    if list(result["funded"]) != list(recount.funded):
        differences.append(
            _differs("funded", result["funded"], list(recount.funded), said)
        )
    for key in ("spent", "remaining", "ballots_counted", "ballots_hash", "scale"):
        published = result.get(key, 1 if key == "scale" else None)
        if published != getattr(recount, key):
            differences.append(_differs(key, published, getattr(recount, key), said))

    published = {p["proposal_id"]: p for p in result["proposals"]}
    recounted = {o.proposal_id: o for o in recount.proposals}
    for proposal_id in sorted(set(published) - set(recounted)):
        differences.append(f"proposal {proposal_id}: in result.json, not on the ballot")
    for proposal_id in sorted(set(recounted) - set(published)):
        differences.append(f"proposal {proposal_id}: on the ballot, not in result.json")
    for outcome in recount.proposals:
        line = published.get(outcome.proposal_id)
        if line is None:
            continue
        for field in PROPOSAL_FIELDS:
            if line.get(field) != getattr(outcome, field):
                differences.append(
                    _differs(
                        f"{field} of {outcome.proposal_id}",
                        line.get(field),
                        getattr(outcome, field),
                        said,
                    )
                )
    order = [p["proposal_id"] for p in result["proposals"]]
    if set(order) == set(recounted) and order != [
        o.proposal_id for o in recount.proposals
    ]:
        differences.append(
            _differs(
                "ranking order", order, [o.proposal_id for o in recount.proposals], said
            )
        )
    return differences


def _compare_pb_columns(election: Election, recount: TallyResult) -> list[str]:
    """The ``votes`` and ``selected`` columns ballots.pb carries, if any."""
    outcomes = {o.proposal_id: o for o in recount.proposals}
    differences = []
    for project in election.projects:
        outcome = outcomes[project.project_id]
        votes = project.fields.get("votes")
        if votes is not None and votes != str(outcome.votes):
            differences.append(
                f"votes of {project.project_id}: the PROJECTS of ballots.pb say "
                f"{votes}, its VOTES give {outcome.votes}"
            )
        selected = project.fields.get("selected")
        if selected is not None and (selected == "1") != outcome.funded:
            funds = "funds" if outcome.funded else "does not fund"
            differences.append(
                f"selected of {project.project_id}: the PROJECTS of ballots.pb say "
                f"{selected}, the recount {funds} it"
            )
    return differences


def _read_table(
    data: bytes, name: str, first_column: str, election: Election
) -> tuple[list[tuple[str, set[str]]] | None, str]:
    """The rows of a published 0/1 table as (first cell, chosen ids), or a
    problem."""
    rows = list(csv.reader(io.StringIO(_text(data, name), newline="")))
    ids = [p.project_id for p in election.projects]
    header = [first_column, *map(safe_cell, ids)]
    if not rows or rows[0] != header:
        return None, f"{name}: its header does not name the proposals of ballots.pb"
    table = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header) or any(cell not in ("0", "1") for cell in row[1:]):
            return None, f"{name}: line {number} is not a {first_column} and 0/1 cells"
        chosen = {i for i, cell in zip(ids, row[1:], strict=True) if cell == "1"}
        table.append((row[0], chosen))
    return table, ""


def _compare_ballots_csv(data: bytes, election: Election) -> list[str]:
    ballots, problem = _read_table(data, BALLOTS_CSV, "ballot", election)
    if ballots is None:
        return [problem]
    in_pb = [(v.voter_id, set(v.vote)) for v in election.votes]
    if ballots != in_pb:
        return [
            f"ballots.csv: its {len(ballots)} ballots are not those of ballots.pb "
            f"({len(in_pb)}), line for line"
        ]
    return []


def _compare_by_receipt(
    data: bytes, election: Election, receipts: bytes | None
) -> list[str]:
    rows, problem = _read_table(data, BALLOTS_BY_RECEIPT, "receipt_hash", election)
    if rows is None:
        return [problem]
    differences = []
    chosen = sorted(tuple(sorted(c)) for _, c in rows)
    if chosen != sorted(tuple(sorted(set(v.vote))) for v in election.votes):
        differences.append(
            f"{BALLOTS_BY_RECEIPT}: its selections are not the ballots of ballots.pb"
        )
    if receipts is not None:
        listed = _text(receipts, RECEIPTS).split()
        if [r for r, _ in rows] != listed:
            differences.append(
                f"{BALLOTS_BY_RECEIPT}: its receipt hashes are not those of "
                "receipts.txt, in order"
            )
    return differences


def _check_receipts(data: bytes, ballots: int) -> list[str]:
    lines = _text(data, RECEIPTS).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    differences = []
    bad = [n for n, line in enumerate(lines, 1) if not _RECEIPT_HASH.fullmatch(line)]
    if bad:
        differences.append(
            f"receipts.txt: line {bad[0]} is not a SHA-256 in lower-case hex"
        )
    if lines != sorted(set(lines)):
        differences.append("receipts.txt: its lines are not sorted and distinct")
    if len(lines) != ballots:
        differences.append(
            f"receipts.txt: lists {len(lines)} receipts for {ballots} ballots"
        )
    return differences
