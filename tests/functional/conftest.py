"""moto layers on top of the fake credentials of tests/conftest.py.

Every fixture is function-scoped: each test gets a fresh ``mock_aws()`` and a
stack built from the production template, so no state leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from chalicelib.clock import close_due_phases
from chalicelib.cycle import Cycle, Proposal
from chalicelib.importer import replay_calendar
from chalicelib.services import Services, get_services, reset_services
from chalicelib.settings import Settings
from pbctl.localstack import create_stack

STAGE = "dev"


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    """moto's in-process mock of every AWS service."""
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None) -> dict[str, str]:
    """The ``dev`` stack of infra/template.yaml in moto; returns its outputs."""
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    return create_stack(cloudformation, stage=STAGE)


@pytest.fixture
def settings(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from the stack outputs, also exported as the PB_* variables."""
    resolved = Settings.from_stack_outputs(stack, stage=STAGE)
    for name, value in resolved.to_env().items():
        monkeypatch.setenv(name, value)
    return resolved


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """The app's collaborators bound to the moto stack (fresh per test)."""
    reset_services()
    built = get_services()
    yield built
    reset_services()


def small_cycle(now: datetime, *, cycle_id: str = "boston-test") -> Cycle:
    """A three-proposal cycle whose voting window holds ``now``."""
    proposals = (
        Proposal("p1", 600_000, {"en": "Shade trees on Blue Hill Avenue"}),
        Proposal("p2", 500_000, {"en": "Library laptops"}),
        Proposal("p3", 900_000, {"en": "Splash pad in Mattapan"}),
    )
    return Cycle(
        cycle_id=cycle_id,
        name="Test cycle",
        budget_cap=1_000_000,
        selection_limit=2,
        min_voting_age=11,
        calendar=replay_calendar(now, timedelta(hours=1)),
        proposals=proposals,
    )


def open_voting(store, cycle: Cycle, now: datetime) -> Cycle:
    """Store ``cycle`` and walk it into voting through the state machine."""
    store.create_cycle(cycle, actor="test", now=now)
    close_due_phases(store, now=now, on_voting_closed=lambda c: "")
    return store.get_cycle(cycle.cycle_id)


@pytest.fixture
def voting_cycle(services: Services) -> Cycle:
    """A small cycle, stored and open for voting now."""
    now = services.clock()
    return open_voting(services.store, small_cycle(now), now)


def table_items(table_name: str) -> list[dict]:
    """Every item of a moto table, for asserting what was (not) written."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    return client.scan(TableName=table_name, ConsistentRead=True)["Items"]
