"""Ballot secrecy, checked on everything a full run leaves behind.

One module-scoped run casts 300 ballots through the Chalice test client on
moto (voters by email, phone and access code, with varied ages, brackets and
neighbourhoods), closes voting, tallies and publishes. Then every DynamoDB
table the stack made (listed, not named here; with their indexes) is scanned
whole and every version of every results-bucket object is read, and:

- no attribute value of a voter mark appears in any other item or published
  file, and no other attribute value in a mark (the cycle id and the day
  excepted); no ballot item carries an attribute only marks have;
- no receipt appears anywhere, with or without its dashes;
- every time-like attribute of marks, ballots and idempotency records is a
  whole day, and no published file holds a time of day.

The last test plants a voter key, a turnout field, a time and a receipt in a
copy of the dump and checks that each is found, so the checks above cannot
pass by finding nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import re
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer

from chalicelib.pabulib import Election, Project, Vote
from tests.functional.election_run import Run, election_stack, replay

pytestmark = pytest.mark.functional

BALLOTS = 300
CYCLE_ID = "secrecy-2027"

#: Attribute names that say "this is a time".
TIME_NAME = re.compile(r"(_on|_at|^at)$|time|date|expires|created|updated|when")
ISO_TIME_OF_DAY = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
WHOLE_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Epoch seconds of 2000-01-01 and 2100-01-01: a number between is a time.
EPOCH_FROM, EPOCH_TO = 946_684_800, 4_102_444_800
#: Separators of the published files' cells (.pb, .csv, .txt).
CELL = re.compile(r'[;,\r\n"]')


def synthetic_election() -> Election:
    """Six proposals and :data:`BALLOTS` ballots of one to three of them."""
    projects = [
        Project(f"q{n}", Decimal(cost), {"name": f"Proposal number {n}"})
        for n, cost in enumerate((400_000, 350_000, 300_000, 250_000, 200_000, 150_000))
    ]
    chooser = random.Random(2027)
    ids = [p.project_id for p in projects]
    votes = [
        Vote(str(n), tuple(chooser.sample(ids, chooser.randint(1, 3))))
        for n in range(1, BALLOTS + 1)
    ]
    meta = {"description": "Secrecy test", "rule": "greedy", "max_length": "3"}
    return Election(meta, projects, votes, Decimal(1_000_000))


@dataclasses.dataclass
class Dump:
    """Everything stored: table (or ``table/index``) -> items; key -> bytes."""

    tables: dict[str, list[dict]]
    objects: dict[str, bytes]
    marks: str
    ballots: str
    idempotency: str
    allowed: set[str]

    def mark_tables(self) -> list[str]:
        return [t for t in self.tables if t.split("/")[0] == self.marks]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    with election_stack() as (settings, services):
        yield replay(settings, services, synthetic_election(), cycle_id=CYCLE_ID)


@pytest.fixture(scope="module")
def dump(run: Run) -> Dump:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    names = [
        name
        for page in dynamodb.get_paginator("list_tables").paginate()
        for name in page["TableNames"]
    ]
    tables = {}
    for name in names:
        tables[name] = scan(dynamodb, TableName=name)
        described = dynamodb.describe_table(TableName=name)["Table"]
        for index in described.get("GlobalSecondaryIndexes", []):
            key = f"{name}/{index['IndexName']}"
            tables[key] = scan(dynamodb, TableName=name, IndexName=index["IndexName"])

    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = run.settings.results_bucket
    objects = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            got = s3.get_object(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
            )
            meta = json.dumps(got["Metadata"], sort_keys=True).encode()
            body = got["Body"].read()
            objects[f"{version['Key']}@{version['VersionId']}"] = body
            objects[f"{version['Key']}@{version['VersionId']}#metadata"] = meta

    settings = run.settings
    days = {item["voted_on"] for item in tables[settings.voter_marks_table]}
    return Dump(
        tables=tables,
        objects=objects,
        marks=settings.voter_marks_table,
        ballots=settings.ballots_table,
        idempotency=settings.idempotency_table,
        allowed={run.cycle.cycle_id, *days},
    )


def scan(dynamodb, **where) -> list[dict]:
    deserialise = TypeDeserializer().deserialize
    items = []
    # Indexes cannot be read consistently; nothing writes while this runs.
    consistent = "IndexName" not in where
    pages = dynamodb.get_paginator("scan").paginate(ConsistentRead=consistent, **where)
    for page in pages:
        for item in page["Items"]:
            items.append({k: deserialise(v) for k, v in item.items()})
    return items


# -- the finders ------------------------------------------------------------


def values(value: object) -> set[str]:
    """Every scalar inside ``value`` as text; a ``#``-joined key also by part."""
    if isinstance(value, dict):
        return set().union(*map(values, value.values())) if value else set()
    if isinstance(value, list | set | tuple | frozenset):
        return set().union(*map(values, value)) if value else set()
    if isinstance(value, Binary):
        text = bytes(value).hex()
    else:
        text = str(value)
    return {text, *text.split("#")} if "#" in text else {text}


def file_values(key: str, body: bytes) -> set[str]:
    text = body.decode("utf-8", errors="replace")
    if key.split("@")[0].endswith(".json") or key.endswith("#metadata"):
        return values(json.loads(text))
    return {cell.strip() for cell in CELL.split(text) if cell.strip()}


def joins(dump: Dump) -> list[str]:
    """Whatever ties a voter mark to anything else, beyond cycle and day."""
    mark_tables = dump.mark_tables()
    marked = set().union(
        *(values(item) for t in mark_tables for item in dump.tables[t])
    )
    marked -= dump.allowed
    mark_only_names = {
        name for t in mark_tables for item in dump.tables[t] for name in item
    } - {"cycle_id"}
    found = []
    for table, items in dump.tables.items():
        if table in mark_tables:
            continue
        for item in items:
            if shared := values(item) & marked:
                found.append(f"{table} item shares {sorted(shared)} with voter marks")
            if table == dump.ballots and (names := mark_only_names & set(item)):
                found.append(f"a ballot item has mark attributes {sorted(names)}")
    for key, body in dump.objects.items():
        if shared := file_values(key, body) & marked:
            found.append(f"{key} shares {sorted(shared)} with voter marks")
    return found


def receipts_found(dump: Dump, receipts: list[str]) -> list[str]:
    texts = {
        **{
            f"{t}[{n}]": json.dumps(item, default=str)
            for t, items in dump.tables.items()
            for n, item in enumerate(items)
        },
        **{k: v.decode("utf-8", errors="replace") for k, v in dump.objects.items()},
    }
    found = []
    for receipt in receipts:
        forms = (receipt, receipt.replace("-", ""), receipt.lower())
        for where, text in texts.items():
            if any(form in text for form in forms):
                found.append(f"receipt {receipt} in {where}")
    return found


def fine_times(dump: Dump) -> list[str]:
    """Time-like attributes of marks, ballots and idempotency finer than a day;
    times of day in published files."""
    found = []
    for table, items in dump.tables.items():
        if table.split("/")[0] not in (dump.marks, dump.ballots, dump.idempotency):
            continue
        for item in items:
            for name, value in item.items():
                if problem := finer_than_a_day(name, value):
                    found.append(f"{table}.{name} = {value!r}: {problem}")
    for key, body in dump.objects.items():
        if match := ISO_TIME_OF_DAY.search(body.decode("utf-8", errors="replace")):
            found.append(f"{key} holds a time of day: {match.group()}")
    return found


def finer_than_a_day(name: str, value: object) -> str | None:
    if isinstance(value, Decimal):
        for seconds in (value, value / 1000):  # epoch seconds or milliseconds
            if EPOCH_FROM <= seconds < EPOCH_TO:
                return None if seconds % 86_400 == 0 else "epoch time not at midnight"
        return "a time attribute holds a number" if TIME_NAME.search(name) else None
    if isinstance(value, str):
        if ISO_TIME_OF_DAY.match(value):
            return "a time of day"
        if TIME_NAME.search(name) and not WHOLE_DAY.fullmatch(value):
            return "not a YYYY-MM-DD day"
    return None


# -- the tests --------------------------------------------------------------


def test_the_run_left_what_the_checks_need(run, dump):
    # Every table the stack's settings name was found by listing.
    settings = run.settings
    for name in (
        settings.cycles_table,
        settings.voter_marks_table,
        settings.ballots_table,
        settings.idempotency_table,
        settings.audit_table,
    ):
        assert name in dump.tables
    assert len(dump.tables[dump.marks]) == BALLOTS
    assert len(dump.tables[dump.ballots]) == BALLOTS
    assert len(run.cast) == BALLOTS
    published = {key.split("@")[0].rsplit("/", 1)[1] for key in dump.objects}
    assert {"result.json", "ballots.pb", "ballots.csv", "receipts.txt"} <= published
    assert "ballots-by-receipt.csv" not in published
    # The turnout fields really are on the marks, so joins() has values to hunt.
    marks = dump.tables[dump.marks]
    assert {m["channel"] for m in marks} == {"online"}
    assert len({m.get("neighbourhood") for m in marks}) == 5
    assert len({m["age_bracket"] for m in marks}) == 5


def test_no_voter_mark_value_appears_beside_a_ballot_or_in_a_published_file(dump):
    assert joins(dump) == []


def test_no_receipt_appears_anywhere(run, dump):
    assert receipts_found(dump, [receipt for receipt, _ in run.cast]) == []


def test_marks_and_ballots_know_only_the_day(dump):
    assert fine_times(dump) == []
    for mark in dump.tables[dump.marks]:
        assert WHOLE_DAY.fullmatch(mark["voted_on"])
    for ballot in dump.tables[dump.ballots]:
        assert WHOLE_DAY.fullmatch(ballot["cast_on"])


def test_the_finders_find_what_is_planted(run, dump):
    # A mark with every turnout field: some voters leave the neighbourhood out.
    mark = next(m for m in dump.tables[dump.marks] if m.get("neighbourhood"))
    receipt = run.cast[0][0]

    def planted(change) -> Dump:
        tainted = copy.deepcopy(dump)
        change(tainted, tainted.tables[tainted.ballots][0])
        return tainted

    # A ballot that gained the voter key is joined to its mark.
    tainted = planted(lambda d, ballot: ballot.update(voter_key=mark["voter_key"]))
    assert any("shares" in f and mark["voter_key"] in f for f in joins(tainted))
    assert "a ballot item has mark attributes ['voter_key']" in joins(tainted)
    # So is one that gained only the hash part of the key, under another name.
    key_part = mark["voter_key"].split("#")[1]
    tainted = planted(lambda d, ballot: ballot.update(voter=key_part))
    assert any(key_part in f for f in joins(tainted))
    # A turnout field moved onto a ballot is found.
    tainted = planted(lambda d, ballot: ballot.update(age_bracket="65+"))
    assert "a ballot item has mark attributes ['age_bracket']" in joins(tainted)
    # A time of day on a ballot, as text or as epoch seconds, is found.
    tainted = planted(lambda d, ballot: ballot.update(cast_at="2027-03-04T10:15:00Z"))
    assert any("cast_at" in f and "time of day" in f for f in fine_times(tainted))
    tainted = planted(lambda d, ballot: ballot.update(ts=Decimal(1_803_000_123)))
    assert any(".ts = " in f for f in fine_times(tainted))
    # A voter's neighbourhood or a receipt in a published file is found.
    tainted = copy.deepcopy(dump)
    csv_key = next(k for k in tainted.objects if "ballots.csv@" in k)
    tainted.objects[csv_key] += f"{receipt},{mark['neighbourhood']}\n".encode()
    assert any(csv_key in f for f in joins(tainted))
    assert receipts_found(tainted, [receipt]) == [f"receipt {receipt} in {csv_key}"]
