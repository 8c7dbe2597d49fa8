"""Swapping a stage to a restored table: the names pbctl accepts, and the
policy each app's deploy copy gets."""

from __future__ import annotations

import json

import pytest

from pbctl import deploy as d

pytestmark = pytest.mark.unit


def test_restored_table_parameters_map_short_names_to_stack_parameters() -> None:
    assert d.restored_table_parameters(
        "prod",
        ["cycles=pb-prod-cycles-restored-20270601", "voter-marks=", "audit="],
    ) == {
        "RestoredCyclesTable": "pb-prod-cycles-restored-20270601",
        "RestoredVoterMarksTable": "",
        "RestoredAuditTable": "",
    }


@pytest.mark.parametrize(
    "swap",
    [
        "cycles",
        "votes=pb-prod-votes-restored-1",
        "cycles=pb-prod-cycles",
        "cycles=pb-dev-cycles-restored-1",
        "cycles=pb-prod-ballots-restored-1",
        "cycles=pb-prod-cycles-restored-",
        "cycles=pb-prod-cycles-restored-a b",
    ],
)
def test_restored_table_parameters_refuse_other_names(swap: str) -> None:
    with pytest.raises(ValueError):
        d.restored_table_parameters("prod", [swap])


def test_the_pattern_is_the_templates() -> None:
    from pbctl.localstack import load_template

    parameters = load_template()["Parameters"]
    for table, (output, parameter) in d.TABLES.items():
        assert parameters[parameter]["AllowedPattern"] == (
            f"^(pb-(dev|prod)-{table}-restored-[0-9A-Za-z.-]+)?$"
        )
        assert output in load_template()["Outputs"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("app", ["api", "scheduled"])
def test_fill_policy_names_the_tables_in_use(stage: str, app: str) -> None:
    policy = json.loads((d.APPS[app] / ".chalice" / f"policy-{stage}.json").read_text())
    outputs = {o: f"pb-{stage}-{t}" for t, (o, _) in d.TABLES.items()}
    restored = f"pb-{stage}-cycles-restored-x"

    same = d.fill_policy(policy, stage, outputs)
    swapped = d.fill_policy(policy, stage, {**outputs, "CyclesTableName": restored})

    assert same == policy
    text = json.dumps(swapped)
    assert f":table/{restored}" in text
    assert f':table/pb-{stage}-cycles"' not in text
    # Only the table names change: same statements, actions and conditions.
    assert [s["Action"] for s in swapped["Statement"]] == [
        s["Action"] for s in policy["Statement"]
    ]
    assert json.dumps(swapped).replace(restored, f"pb-{stage}-cycles") == json.dumps(
        policy
    )
