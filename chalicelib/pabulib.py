"""Read and write the pabulib ``.pb`` format of participatory budgeting elections.

A ``.pb`` file has three sections, in this order, each opened by a line holding
only its name and followed by a header line:

``META``
    ``key;value`` pairs; ``budget`` is required, ``vote_type`` defaults to
    ``approval``.
``PROJECTS``
    one proposal per line; ``project_id`` and ``cost`` are required columns.
``VOTES``
    one ballot per line; ``voter_id`` and ``vote`` are required columns, the
    vote is a comma-separated list of project ids and ``points``, when
    present, the matching comma-separated integers.

Fields are ``;``-separated and quoted CSV style where they hold ``;`` or
``"``. The reader is tolerant of what real files do (CRLF or mixed line
endings, a byte-order mark, no final newline, any column order, costs such
as ``5000.0``, budgets with cents, ``None`` cells) and strict about what
would change an outcome: every problem raises :class:`PabulibFormatError`
with the 1-based line where it was found.

Money is kept as exact :class:`~decimal.Decimal`; :func:`money_scale` and
:func:`to_units` turn it into the integers the tally counts in.

Pure: no AWS, no Chalice.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import io
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal

from chalicelib.errors import InvalidInput, PabulibFormatError

SECTIONS = ("META", "PROJECTS", "VOTES")

_MONEY = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_POINTS = re.compile(r"[+-]?[0-9]+")
_NONE = "None"


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    """One proposal of the election; ``fields`` holds its other columns."""

    project_id: str
    cost: Decimal
    fields: dict[str, str] = dataclasses.field(default_factory=dict)


# Not frozen: a frozen __init__ costs a tenth of the parse time of a large file.
# Treat it as read-only all the same.
@dataclasses.dataclass(slots=True)
class Vote:
    """One ballot: the project ids in file order, and their points if scored."""

    voter_id: str
    vote: tuple[str, ...]
    points: tuple[int, ...] | None = None
    fields: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class Election:
    """A whole ``.pb`` file: META in file order, proposals and ballots in order."""

    meta: dict[str, str]
    projects: list[Project]
    votes: list[Vote]
    budget: Decimal
    vote_type: str = "approval"
    source: str = dataclasses.field(default="", compare=False)

    @property
    def rule(self) -> str:
        """The META ``rule`` (how the official outcome was reached), or ``""``."""
        return self.meta.get("rule", "")

    @property
    def min_project_score_threshold(self) -> int:
        """The META minimum count a proposal needs to be eligible, 0 when absent.

        Raises :class:`InvalidInput` when the value is not a whole number.
        """
        raw = self.meta.get("min_project_score_threshold", "").strip()
        if raw in ("", _NONE):
            return 0
        try:
            value = Decimal(raw)
        except ArithmeticError:
            value = None
        if value is None or not value.is_finite() or value != value.to_integral():
            raise InvalidInput(
                f"min_project_score_threshold {raw!r} is not a whole number.",
                field="min_project_score_threshold",
            )
        return int(value)

    @property
    def selected(self) -> set[str]:
        """Ids of the proposals whose ``selected`` column is ``1`` (funded by rule)."""
        return {
            p.project_id
            for p in self.projects
            if p.fields.get("selected", "").strip() in ("1", "1.0")
        }


# --- reading ---------------------------------------------------------------


def read_pb(path: str | os.PathLike[str]) -> Election:
    """Read the ``.pb`` file at ``path`` (UTF-8) and return its :class:`Election`.

    Raises :class:`PabulibFormatError` when the bytes are not UTF-8 or the file
    is malformed, and :class:`OSError` when it cannot be opened.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PabulibFormatError(
            f"the file is not valid UTF-8 (byte {exc.start})", line=line
        ) from exc
    return parse_pb(text, source=os.fspath(path))


def parse_pb(text: str, *, source: str = "") -> Election:
    """Parse the text of a ``.pb`` file and return its :class:`Election`.

    ``source`` names the file in the returned election. Raises
    :class:`PabulibFormatError`, with the 1-based line, for any malformed
    input: an empty file, a missing or misplaced section, a missing required
    column, a wrong number of fields, a non-numeric cost or budget, a vote
    naming an unknown project, points not matching the vote.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    with gc_paused():
        return _parse(text, source)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector inside the block, restoring its state after.

    Reading or tallying a large election builds ~10^5 small acyclic objects;
    letting the collector walk them again and again doubles the time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse(text: str, source: str) -> Election:
    lines = _split_lines(text)
    if "\x00" in text:
        line = next(i for i, content in enumerate(lines, 1) if "\x00" in content)
        raise PabulibFormatError("the line holds a NUL character", line=line)
    if not any(line.strip() for line in lines):
        raise PabulibFormatError("the file is empty", line=1)
    rows, numbers = _table(lines)

    heads: dict[str, int] = {}
    for index, row in enumerate(rows):
        if len(row) != 1:
            continue
        name = row[0].strip()
        if name not in SECTIONS:
            continue
        expected = SECTIONS[len(heads)] if len(heads) < len(SECTIONS) else None
        if name != expected:
            raise PabulibFormatError(
                f"section {name} is out of place; expected "
                + (expected or "no more sections"),
                line=numbers[index],
            )
        heads[name] = index
    first = next(i for i, row in enumerate(rows) if not _blank(row))
    if heads.get("META") != first:
        raise PabulibFormatError(
            "the file must start with the META section", line=numbers[first]
        )
    for name in SECTIONS:
        if name not in heads:
            raise PabulibFormatError(f"the {name} section is missing", line=len(lines))

    table = _Table(rows, numbers)
    at_meta, at_projects, at_votes = heads["META"], heads["PROJECTS"], heads["VOTES"]
    meta, budget, vote_type = _read_meta(table.section(at_meta, at_projects))
    projects = _read_projects(table.section(at_projects, at_votes))
    votes = _read_votes(table.section(at_votes, len(rows)), projects)
    return Election(
        meta=meta,
        projects=list(projects.values()),
        votes=votes,
        budget=budget,
        vote_type=vote_type,
        source=source,
    )


def _split_lines(text: str) -> list[str]:
    # Only CR and LF end a line; str.splitlines would also split on form feeds
    # and Unicode separators that may sit inside a project name.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.removesuffix("\n").split("\n")


def _table(lines: list[str]) -> tuple[list[list[str]], Sequence[int]]:
    """Return the CSV rows and the 1-based line on which each row starts."""
    # The reader gets each line with its LF so that a quoted field spanning
    # lines keeps its line break.
    text = "\n".join(lines) + "\n"
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=";", strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise PabulibFormatError(
            f"badly quoted field ({exc})", line=reader.line_num
        ) from exc
    if len(rows) == len(lines):
        # The common case: no quoted field spans lines, row i is line i + 1.
        return rows, range(1, len(rows) + 1)
    numbers = []
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=";", strict=True)
    previous = 0
    for _ in reader:
        numbers.append(previous + 1)
        previous = reader.line_num
    return rows, numbers


def _blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


@dataclasses.dataclass(frozen=True, slots=True)
class _Section:
    head: int
    rows: list[list[str]]
    numbers: Sequence[int]

    def lines(self) -> Iterator[tuple[int, list[str]]]:
        for number, row in zip(self.numbers, self.rows, strict=True):
            if not _blank(row):
                yield number, row


@dataclasses.dataclass(frozen=True, slots=True)
class _Table:
    rows: list[list[str]]
    numbers: Sequence[int]

    def section(self, start: int, stop: int) -> _Section:
        """The rows strictly between the section line at ``start`` and ``stop``."""
        return _Section(
            self.numbers[start],
            self.rows[start + 1 : stop],
            self.numbers[start + 1 : stop],
        )


def _header(
    name: str, section: _Section, required: list[str]
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    lines = section.lines()
    first = next(lines, None)
    if first is None:
        raise PabulibFormatError(
            f"the {name} section has no header line", line=section.head + 1
        )
    number, header = first
    header = [column.strip() for column in header]
    for column in header:
        if not column:
            raise PabulibFormatError(
                f"the {name} header has an empty column name", line=number
            )
        if header.count(column) > 1:
            raise PabulibFormatError(
                f"the {name} header names column {column!r} twice", line=number
            )
    for column in required:
        if column not in header:
            raise PabulibFormatError(
                f"the {name} header has no {column!r} column", line=number
            )
    return header, lines


def _check_width(name: str, number: int, row: list[str], width: int) -> None:
    if len(row) != width:
        raise PabulibFormatError(
            f"{name} line has {len(row)} fields, the header has {width}",
            line=number,
        )


def _money(raw: str, what: str, number: int) -> Decimal:
    value = raw.strip()
    if not _MONEY.fullmatch(value):
        raise PabulibFormatError(
            f"{what} {raw!r} is not a non-negative number", line=number
        )
    return Decimal(value)


def _picker(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    if len(indexes) == 1:
        only = indexes[0]
        return lambda row: (row[only],)
    if not indexes:
        return lambda row: ()
    return operator.itemgetter(*indexes)


def _read_meta(section: _Section) -> tuple[dict[str, str], Decimal, str]:
    lines = list(section.lines())
    if lines and [c.strip().lower() for c in lines[0][1]] == ["key", "value"]:
        lines = lines[1:]
    meta: dict[str, str] = {}
    where: dict[str, int] = {}
    for number, row in lines:
        _check_width("META", number, row, 2)
        key, value = row[0].strip(), row[1].strip()
        if not key:
            raise PabulibFormatError("META line has an empty key", line=number)
        if key in meta:
            raise PabulibFormatError(f"META key {key!r} appears twice", line=number)
        meta[key] = value
        where[key] = number
    if "budget" not in meta:
        raise PabulibFormatError("META has no budget", line=section.head)
    budget = _money(meta["budget"], "budget", where["budget"])
    vote_type = meta.get("vote_type", "") or "approval"
    return meta, budget, vote_type


def _read_projects(section: _Section) -> dict[str, Project]:
    header, lines = _header("PROJECTS", section, ["project_id", "cost"])
    at_id, at_cost = header.index("project_id"), header.index("cost")
    others = [i for i in range(len(header)) if i not in (at_id, at_cost)]
    names = [header[i] for i in others]
    pick = _picker(others)
    projects: dict[str, Project] = {}
    for number, row in lines:
        _check_width("PROJECTS", number, row, len(header))
        project_id = row[at_id].strip()
        if not project_id:
            raise PabulibFormatError("project_id is empty", line=number)
        if project_id in projects:
            raise PabulibFormatError(
                f"project {project_id!r} is listed twice", line=number
            )
        cost = _money(row[at_cost], f"cost of project {project_id!r}", number)
        projects[project_id] = Project(
            project_id, cost, dict(zip(names, pick(row), strict=True))
        )
    return projects


def _read_votes(section: _Section, projects: dict[str, Project]) -> list[Vote]:
    header, _ = _header("VOTES", section, ["voter_id", "vote"])
    width = len(header)
    at_voter, at_vote = header.index("voter_id"), header.index("vote")
    at_points = header.index("points") if "points" in header else None
    skip = {at_voter, at_vote, at_points}
    others = [i for i in range(width) if i not in skip]
    names = [header[i] for i in others]
    pick = _picker(others)
    known = projects.__contains__
    # Field values repeat (sex, voting method...): share one string per value.
    shared: dict[str, str] = {}
    share = shared.setdefault

    # This loop is the hot path on large files; it avoids per-row generators.
    votes: list[Vote] = []
    append = votes.append
    rows, numbers = section.rows, section.numbers
    seen_header = False
    for index, row in enumerate(rows):
        if len(row) != width:
            if _blank(row):
                continue
            _check_width("VOTES", numbers[index], row, width)
        if not seen_header:
            seen_header = True
            continue
        cell = row[at_vote]
        if cell and cell != _NONE:
            selection = tuple(cell.split(","))
            if not all(map(known, selection)):
                selection = _checked_selection(cell, known, numbers[index])
        else:
            selection = _checked_selection(cell, known, numbers[index])
        points = None
        if at_points is not None:
            points = _points(row[at_points], len(selection), numbers[index])
        values = pick(row)
        fields = dict(zip(names, map(share, values, values), strict=True))
        append(Vote(row[at_voter].strip(), selection, points, fields))
    return votes


def _id_list(raw: str) -> tuple[str, ...]:
    cell = raw.strip()
    if not cell or cell == _NONE:
        return ()
    return tuple(part.strip() for part in cell.split(","))


def _checked_selection(
    raw: str, known: Callable[[str], bool], number: int
) -> tuple[str, ...]:
    selection = _id_list(raw)
    for project_id in selection:
        if not known(project_id):
            raise PabulibFormatError(
                f"vote names unknown project {project_id!r}", line=number
            )
    return selection


def _points(raw: str, expected: int, number: int) -> tuple[int, ...]:
    parts = _id_list(raw)
    if len(parts) != expected:
        raise PabulibFormatError(
            f"the vote names {expected} projects but has {len(parts)} points",
            line=number,
        )
    try:
        return tuple(map(int, parts))
    except ValueError:
        pass
    for part in parts:
        if not _POINTS.fullmatch(part):
            raise PabulibFormatError(f"points {part!r} is not an integer", line=number)
    return tuple(int(part) for part in parts)


# --- writing ---------------------------------------------------------------


def write_pb(election: Election) -> str:
    """Return ``election`` as the text of a ``.pb`` file (LF line endings).

    Fields are quoted only where they must be, and
    ``parse_pb(write_pb(election)) == election``.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")

    meta = dict(election.meta)
    meta["budget"] = str(election.budget)
    if "vote_type" in meta or election.vote_type != "approval":
        meta["vote_type"] = election.vote_type
    writer.writerow(["META"])
    writer.writerow(["key", "value"])
    writer.writerows(meta.items())

    project_columns = _columns(p.fields for p in election.projects)
    writer.writerow(["PROJECTS"])
    writer.writerow(["project_id", "cost", *project_columns])
    for p in election.projects:
        extra = [p.fields.get(column, "") for column in project_columns]
        writer.writerow([p.project_id, str(p.cost), *extra])

    vote_columns = _columns(v.fields for v in election.votes)
    scored = any(v.points is not None for v in election.votes)
    writer.writerow(["VOTES"])
    writer.writerow(
        ["voter_id", "vote", *(["points"] if scored else []), *vote_columns]
    )
    for v in election.votes:
        points = [",".join(map(str, v.points or ()))] if scored else []
        extra = [v.fields.get(column, "") for column in vote_columns]
        writer.writerow([v.voter_id, ",".join(v.vote), *points, *extra])
    return out.getvalue()


def _columns(rows: Iterable[dict[str, str]]) -> list[str]:
    seen: dict[str, None] = {}
    for fields in rows:
        for column in fields:
            seen.setdefault(column, None)
    return list(seen)


# --- money -----------------------------------------------------------------


def money_scale(election: Election) -> int:
    """Return the integer unit of money: 1 when the budget and every cost are whole,
    else 100 (cents).

    Raises :class:`InvalidInput` when a value has more than two decimals.
    """
    scale = 1
    amounts = [("budget", election.budget)]
    amounts += [(f"cost of {p.project_id}", p.cost) for p in election.projects]
    for what, amount in amounts:
        if amount == amount.to_integral():
            continue
        if amount * 100 != (amount * 100).to_integral():
            raise InvalidInput(
                f"The {what} ({amount}) has more than two decimals.", field="cost"
            )
        scale = 100
    return scale


def to_units(amount: Decimal, scale: int) -> int:
    """Return ``amount`` as an exact integer number of ``1/scale`` units.

    Raises :class:`InvalidInput` when the amount is not a whole number of units.
    """
    units = amount * scale
    if units != units.to_integral():
        raise InvalidInput(
            f"The amount {amount} is not a whole number of 1/{scale} units.",
            field="cost",
        )
    return int(units)


def from_units(units: int, scale: int) -> int | Decimal:
    """Return ``units`` of ``1/scale`` as money: an int when whole, else a Decimal."""
    if units % scale == 0:
        return units // scale
    return Decimal(units) / Decimal(scale)
