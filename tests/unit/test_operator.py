"""Who pbctl writes into the audit log when it acts with AWS credentials."""

from __future__ import annotations

import pytest

from pbctl.operator import Target, operator_actor

pytestmark = pytest.mark.unit


class FakeSts:
    def __init__(self, arn: str):
        self.arn = arn

    def get_caller_identity(self) -> dict:
        return {"Arn": self.arn}


class FakeSession:
    def __init__(self, arn: str):
        self.sts = FakeSts(arn)

    def client(self, service: str, endpoint_url=None):
        assert service == "sts"
        return self.sts


def actor(arn: str) -> str:
    return operator_actor(Target("dev", {}, FakeSession(arn), None))


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sts::123456789012:assumed-role/PBOperator/jane@boston.gov",
        "arn:aws:iam::123456789012:user/jane@boston.gov",
    ],
)
def test_an_email_in_the_principal_is_hashed_not_dropped(arn):
    # GIVEN a principal named by an email; THEN the log keeps a distinct,
    # stable name for the person without the address itself
    named = actor(arn)

    assert "jane" not in named and "@" not in named
    assert named == actor(arn.replace("jane@boston.gov", "JANE@boston.gov"))
    assert named != actor(arn.replace("jane", "joao"))
    assert named.startswith("pbctl:" + arn.rpartition("/")[0] + "/sha256-")


def test_a_plain_principal_is_kept_as_it_is():
    arn = "arn:aws:sts::123456789012:assumed-role/PBOperator/ci-deploy"
    assert actor(arn) == "pbctl:" + arn
