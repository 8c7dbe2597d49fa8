"""``pbctl access-codes generate|list|revoke`` against a moto server on loopback."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re

import boto3
import pytest
from pypdf import PdfReader

from chalicelib.cycle import Phase
from chalicelib.errors import Conflict
from chalicelib.services import Services
from chalicelib.settings import Settings
from pbctl.localstack import create_stack, start_moto_server
from pbctl.main import main
from pbctl.operator import LOCAL_ENV
from tests.functional.conftest import small_cycle

pytestmark = pytest.mark.functional

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_ENV.items():
            patch.setenv(name, value)
        with start_moto_server(0) as running:
            cloudformation = boto3.client(
                "cloudformation", endpoint_url=running.endpoint_url
            )
            yield running, create_stack(cloudformation, stage="dev")


@pytest.fixture
def services(server, monkeypatch):
    """A cycle in voting on the server, and the store pbctl will act on."""
    running, outputs = server
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", running.endpoint_url)
    built = Services.from_settings(Settings.from_stack_outputs(outputs, stage="dev"))
    now = built.clock()
    cycle = dataclasses.replace(
        small_cycle(now, cycle_id="pbctl-codes"), phase=Phase.VOTING
    )
    try:
        built.store.create_cycle(cycle, actor="test", now=now, make_current=False)
    except Conflict:  # made by an earlier test of this module
        pass
    return built


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_generate_writes_the_sheet_list_counts_and_revoke_is_audited(
    server, services, capsys, tmp_path
):
    running, _ = server
    endpoint = ("--endpoint-url", running.endpoint_url)
    sheet = tmp_path / "mattapan.pdf"

    status, out, err = run(
        capsys,
        "access-codes",
        "generate",
        "--cycle",
        "pbctl-codes",
        "--site",
        "Mattapan Branch Library",
        "--count",
        "8",
        "--pdf",
        str(sheet),
        "--site-url",
        "https://pb.boston.gov",
        *endpoint,
    )

    assert status == 0, err
    made = json.loads(out)
    assert (made["count"], made["status"], made["pdf"]) == (8, "active", str(sheet))
    assert not (tmp_path / "mattapan.pdf.partial").exists()
    text = "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(sheet.read_bytes())).pages
    )
    assert len(set(CODE.findall(text))) == 8
    assert made["batch_id"] in text and "pb.boston.gov/ballot.html" in text
    generated = services.store.audit_entries("pbctl-codes")[-1]
    assert generated["action"] == "access_codes_generated"
    assert generated["actor"].startswith("pbctl:")

    status, out, err = run(
        capsys, "access-codes", "list", "--cycle", "pbctl-codes", *endpoint
    )
    assert status == 0, err
    listed = {b["batch_id"]: b for b in json.loads(out)["batches"]}
    assert listed[made["batch_id"]]["unused_count"] == 8

    status, out, err = run(
        capsys,
        "access-codes",
        "revoke",
        "--cycle",
        "pbctl-codes",
        "--batch",
        made["batch_id"],
        "--reason",
        "box left on the bus",
        *endpoint,
    )
    assert status == 0, err
    assert json.loads(out)["status"] == "revoked"
    revoked = services.store.audit_entries("pbctl-codes")[-1]
    assert (revoked["action"], revoked["reason"]) == (
        "access_codes_revoked",
        "box left on the bus",
    )


def test_a_refused_batch_writes_neither_sheet_nor_codes(
    server, services, capsys, tmp_path
):
    running, _ = server
    sheet = tmp_path / "none.pdf"
    before = services.store.list_access_code_batches("pbctl-codes")

    status, out, err = run(
        capsys,
        "access-codes",
        "generate",
        "--cycle",
        "pbctl-codes",
        "--site",
        "Mattapan",
        "--count",
        "1001",
        "--pdf",
        str(sheet),
        "--endpoint-url",
        running.endpoint_url,
    )

    assert status == 1 and out == ""
    assert "OUT_OF_RANGE (field count)" in err
    assert os.listdir(tmp_path) == []
    assert services.store.list_access_code_batches("pbctl-codes") == before
