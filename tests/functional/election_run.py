"""A real election replayed end to end on moto, for tests that need a whole run.

:func:`election_stack` builds one moto stack from the production template
(module-scoped use: the run costs a few seconds); :func:`replay` casts every
ballot of a pabulib election through the Chalice test client, as residents
would, with varied voter kinds, ages, brackets and neighbourhoods, then runs
the phase clock past the voting deadline, which closes voting, tallies and
publishes. What it returns keeps every receipt the API handed out, which no
table holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app as api_app
from chalicelib.clock import close_due_phases
from chalicelib.cycle import Cycle, Phase, format_time
from chalicelib.importer import cycle_from_election
from chalicelib.jobs import run_phase_clock
from chalicelib.pabulib import Election
from chalicelib.services import Services, get_services, reset_services
from chalicelib.settings import Settings
from pbctl import motoshim
from pbctl.localstack import create_stack
from tests.functional.conftest import FAKE_ENV, STAGE

#: Ages cast with, each with the bracket the voter also states.
AGES = ((15, "11-17"), (22, "18-24"), (30, "25-34"), (41, "35-44"), (67, "65+"))
NEIGHBOURHOODS = ("dorchester", "roxbury", "east-boston", "allston", None)


@dataclasses.dataclass
class Run:
    settings: Settings
    services: Services
    cycle: Cycle
    #: (receipt, selections) of every ballot cast, in casting order.
    cast: list[tuple[str, tuple[str, ...]]]

    def published(self, name: str) -> bytes:
        s3 = boto3.client("s3", region_name="us-east-1")
        key = f"results/{self.cycle.cycle_id}/{name}"
        return s3.get_object(Bucket=self.settings.results_bucket, Key=key)[
            "Body"
        ].read()


@contextlib.contextmanager
def election_stack() -> Iterator[tuple[Settings, Services]]:
    """A fresh moto stack with the app's services bound to it."""
    # The transaction shim keeps each cast O(1) instead of copying the tables.
    motoshim.install()
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            patch.delenv(name)
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        with mock_aws():
            cloudformation = boto3.client("cloudformation", region_name="us-east-1")
            outputs = create_stack(cloudformation, stage=STAGE)
            settings = Settings.from_stack_outputs(outputs, stage=STAGE)
            for name, value in settings.to_env().items():
                patch.setenv(name, value)
            reset_services()
            try:
                yield settings, get_services()
            finally:
                reset_services()


def replay(
    settings: Settings,
    services: Services,
    election: Election,
    *,
    cycle_id: str,
    receipts_with_selections: bool = False,
) -> Run:
    """Cast ``election``'s ballots through the API, close voting and publish."""
    now = services.clock()
    cycle = dataclasses.replace(
        cycle_from_election(election, cycle_id=cycle_id, now=now),
        receipts_with_selections=receipts_with_selections,
        # A replayed published election: its voters are taken on their word.
        verification=("attested",),
    )
    services.store.create_cycle(cycle, actor="test", now=now)
    close_due_phases(services.store, now=now, on_voting_closed=lambda c: "")
    cycle = services.store.get_cycle(cycle_id)
    assert cycle.phase is Phase.VOTING

    cast = []
    with Client(api_app) as api:
        for number, vote in enumerate(election.votes):
            # A few real ballots name a proposal twice; the API refuses that.
            selections = tuple(dict.fromkeys(vote.vote))
            receipt = cast_one(api, number, selections)
            cast.append((receipt, selections))

    after_close = cycle.calendar[Phase.VOTING].end + timedelta(minutes=5)
    run_phase_clock({"time": format_time(after_close)})
    cycle = services.store.get_cycle(cycle_id)
    assert cycle.phase is Phase.RESULTS
    return Run(settings, services, cycle, cast)


def cast_one(api, number: int, selections: tuple[str, ...]) -> str:
    """POST /ballots for voter ``number``; returns the receipt."""
    age, bracket = AGES[number % len(AGES)]
    body: dict = {
        "selections": list(selections),
        "attestation": {"boston_resident": True, "age": age},
        "voter": voter(number),
        "age_bracket": bracket,
    }
    if neighbourhood := NEIGHBOURHOODS[number % len(NEIGHBOURHOODS)]:
        body["neighbourhood"] = neighbourhood
    answer = api.http.post(
        "/ballots",
        headers={"Content-Type": "application/json", "Idempotency-Key": key()},
        body=json.dumps(body),
    )
    assert answer.status_code == 201, answer.json_body
    return answer.json_body["receipt"]


def voter(number: int) -> dict:
    if number % 3 == 0:
        return {"kind": "email", "value": f"Resident.{number}@Example.org"}
    if number % 3 == 1:
        return {"kind": "phone", "value": f"(617) 555-{number % 10000:04d}"}
    return {"kind": "phone", "value": f"+1 857 555 {number % 10000:04d}"}


def key() -> str:
    return uuid.uuid4().hex
