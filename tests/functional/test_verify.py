"""``pbctl verify`` on the files a real run published: confirmed, or each
tampering named.

One module-scoped run: Warsaw 2019 Słodowiec (447 ballots, greedy, an
official outcome) cast through the Chalice test client on moto, closed and
published by the phase clock. Each test copies the published files to its
own folder and tampers with the copy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.pabulib import read_pb
from pbctl.main import main
from tests.conftest import find_pabulib_dir
from tests.functional.election_run import Run, election_stack, replay

pytestmark = pytest.mark.functional

ELECTION = "Poland_Warszawa_2019_Slodowiec.pb"
FILES = ("result.json", "ballots.pb", "ballots.csv", "receipts.txt")


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    path = find_pabulib_dir() / ELECTION
    if not path.is_file():
        pytest.skip(f"pabulib election {ELECTION} not found (set PABULIB_DIR)")
    with election_stack() as (settings, services):
        yield replay(settings, services, read_pb(path), cycle_id="warsaw-slodowiec")


@pytest.fixture
def files(run: Run, tmp_path: Path) -> dict[str, Path]:
    """The published files, copied into this test's own folder."""
    copies = {}
    for name in FILES:
        copies[name] = tmp_path / name
        copies[name].write_bytes(run.published(name))
    return copies


def verify(capsys, files: dict[str, Path], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(
        ["verify", str(files["result.json"]), str(files["ballots.pb"]), *extra]
    )
    out, err = capsys.readouterr()
    return status, out, err


def with_options(files: dict[str, Path]) -> list[str]:
    return [
        "--ballots-csv",
        str(files["ballots.csv"]),
        "--receipts",
        str(files["receipts.txt"]),
    ]


def differences(out: str) -> list[str]:
    return [line[4:] for line in out.splitlines() if line.startswith("  - ")]


def test_the_published_result_of_a_real_run_is_confirmed(run, files, capsys):
    status, out, err = verify(capsys, files, *with_options(files))

    assert status == 0, out + err
    result = json.loads(files["result.json"].read_bytes())
    assert out.startswith(
        f"CONFIRMED: the result of warsaw-slodowiec follows from its 447 published "
        f"ballots; funded {len(result['funded'])}: {', '.join(result['funded'])}\n"
    )
    for name in ("ballots.pb", "ballots.csv", "receipts.txt"):
        assert f"  digest of {name}\n" in out
    # The run reached the city's official outcome, and every receipt the API
    # handed out is in the published list.
    official = read_pb(find_pabulib_dir() / ELECTION).selected
    assert set(result["funded"]) == official
    listed = set(files["receipts.txt"].read_text().split())
    assert {hashlib.sha256(r.encode()).hexdigest() for r, _ in run.cast} == listed


def test_one_changed_vote_in_ballots_pb_is_found(files, capsys):
    text = files["ballots.pb"].read_text()
    election = read_pb(files["ballots.pb"])
    first = election.votes[0]
    other = next(
        p.project_id for p in election.projects if p.project_id not in first.vote
    )
    old_line = f"\n{first.voter_id};{','.join(first.vote)}\n"
    changed = (other, *first.vote[1:])
    new_line = f"\n{first.voter_id};{','.join(changed)}\n"
    assert text.count(old_line) == 1
    files["ballots.pb"].write_text(text.replace(old_line, new_line))
    result = json.loads(files["result.json"].read_bytes())
    votes = {p["proposal_id"]: p["votes"] for p in result["proposals"]}

    status, out, _ = verify(capsys, files)

    assert status == 1
    assert out.startswith("MISMATCH: the result does not follow from the files")
    found = differences(out)
    assert re.fullmatch(
        r"ballots\.pb: its SHA-256 is sha256:[0-9a-f]{64}, result\.json records "
        + re.escape(result["files"]["ballots.pb"]),
        found[0],
    )
    removed, added = first.vote[0], other
    assert (
        f"votes of {removed}: result.json says {votes[removed]}, the recount gives "
        f"{votes[removed] - 1}"
    ) in found
    assert (
        f"votes of {added}: result.json says {votes[added]}, the recount gives "
        f"{votes[added] + 1}"
    ) in found
    assert any(d.startswith("ballots_hash: result.json says") for d in found)


def test_a_changed_funded_list_in_result_json_is_found(files, capsys):
    result = json.loads(files["result.json"].read_bytes())
    true_funded = list(result["funded"])
    result["funded"] = true_funded[:-1]
    files["result.json"].write_text(json.dumps(result))

    status, out, _ = verify(capsys, files, *with_options(files))

    assert status == 1
    assert differences(out) == [
        f"funded: result.json says [{', '.join(true_funded[:-1])}], the recount "
        f"gives [{', '.join(true_funded)}]"
    ]


def test_a_wrong_digest_is_found(files, capsys):
    result = json.loads(files["result.json"].read_bytes())
    real = result["files"]["ballots.pb"]
    wrong = "sha256:" + "0" * 64
    result["files"]["ballots.pb"] = wrong
    files["result.json"].write_text(json.dumps(result))

    status, out, _ = verify(capsys, files)

    assert status == 1
    assert differences(out) == [
        f"ballots.pb: its SHA-256 is {real}, result.json records {wrong}"
    ]


def test_a_receipt_dropped_from_receipts_txt_is_found(files, capsys):
    lines = files["receipts.txt"].read_text().splitlines(keepends=True)
    files["receipts.txt"].write_text("".join(lines[1:]))
    recorded = json.loads(files["result.json"].read_bytes())["files"]

    status, out, _ = verify(capsys, files, *with_options(files))

    assert status == 1
    found = differences(out)
    assert found[0].startswith("receipts.txt: its SHA-256 is sha256:")
    assert found[0].endswith(f"result.json records {recorded['receipts.txt']}")
    assert found[1:] == ["receipts.txt: lists 446 receipts for 447 ballots"]


def test_a_changed_ballots_csv_is_found(files, capsys):
    lines = files["ballots.csv"].read_text().splitlines(keepends=True)
    cells = lines[1].rstrip("\n").split(",")
    cells[1] = "0" if cells[1] == "1" else "1"
    lines[1] = ",".join(cells) + "\n"
    files["ballots.csv"].write_text("".join(lines))

    status, out, _ = verify(capsys, files, *with_options(files))

    assert status == 1
    found = differences(out)
    assert found[0].startswith("ballots.csv: its SHA-256 is sha256:")
    assert found[1] == (
        "ballots.csv: its 447 ballots are not those of ballots.pb (447), line for line"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("result.json", None, "pbctl verify: cannot read "),
        ("result.json", b"{not json", "pbctl verify: invalid file: result.json is not"),
        ("result.json", b'{"funded": []}', "pbctl verify: invalid file: result.json "),
        ("ballots.pb", b"VOTES\nnothing here\n", "pbctl verify: invalid file: line "),
        ("ballots.pb", b"\xff\xfe", "pbctl verify: invalid file: ballots.pb is not"),
    ],
)
def test_an_unreadable_file_exits_2(files, capsys, name, content, message):
    if content is None:
        files[name].unlink()
    else:
        files[name].write_bytes(content)

    status, out, err = verify(capsys, files)

    assert status == 2
    assert out == ""
    assert err.startswith(message)
