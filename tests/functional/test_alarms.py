"""The alarms, their topic and the scheduled app's dead-letter queue.

moto's CloudFormation builds the queue and the topic but has no
``AWS::CloudWatch::Alarm`` and no ``AWS::SNS::Subscription``: those sit under
the ``DeployAlarms`` condition, which the local stack turns off
(``CreateAlarms=false``), and are asserted on the parsed template here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest

from pbctl.deploy import SCHEDULED_FUNCTIONS
from pbctl.localstack import TEMPLATE_PATH, load_template

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
TABLES = (
    "CyclesTable",
    "VoterMarksTable",
    "BallotsTable",
    "IdempotencyTable",
    "VerificationTable",
    "AuditTable",
    "PaperTable",
)


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE_PATH)


def alarms(template: dict) -> dict[str, dict]:
    return {
        k: r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_is_conditional_and_notifies_the_topic(template) -> None:
    found = alarms(template)

    assert set(found) == {
        "ApiServerErrorRateAlarm",
        "PhaseClockErrorsAlarm",
        "PhaseClockStoppedAlarm",
        "ScheduledDeadLetterAlarm",
        *(t.replace("Table", "ThrottleAlarm") for t in TABLES),
    }
    for alarm in found.values():
        assert alarm["Condition"] == "DeployAlarms"
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}]
        assert "docs/runbook.md" in props["AlarmDescription"]
        assert props["AlarmName"]["Fn::Sub"].startswith("pb-${Stage}-")
    assert template["Conditions"]["DeployAlarms"] == {
        "Fn::Equals": [{"Ref": "CreateAlarms"}, "true"]
    }


def test_api_alarm_watches_the_5xx_rate_of_the_chalice_api(template) -> None:
    props = template["Resources"]["ApiServerErrorRateAlarm"]["Properties"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())

    assert (props["Namespace"], props["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    assert props["Statistic"] == "Average"  # the share of answers that were 5xx
    assert props["Dimensions"] == [
        {"Name": "ApiName", "Value": config["app_name"]},
        {"Name": "Stage", "Value": config["stages"]["prod"]["api_gateway_stage"]},
    ]
    assert (props["Threshold"], props["ComparisonOperator"]) == (
        0.05,
        "GreaterThanThreshold",
    )


@pytest.mark.parametrize("table", TABLES)
def test_each_table_has_a_throttling_alarm(template, table) -> None:
    props = template["Resources"][table.replace("Table", "ThrottleAlarm")]["Properties"]

    (expression,) = [m for m in props["Metrics"] if "Expression" in m]
    stats = [m["MetricStat"] for m in props["Metrics"] if "MetricStat" in m]
    assert expression["ReturnData"] is True
    assert all(m["ReturnData"] is False for m in props["Metrics"] if "MetricStat" in m)
    operations = set()
    for stat in stats:
        metric = stat["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == (
            "AWS/DynamoDB",
            "ThrottledRequests",
        )
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dims["TableName"] == {"Ref": table}
        operations.add(dims["Operation"])
    assert "TransactWriteItems" in operations
    assert sorted(re.findall(r"t\d+", expression["Expression"])) == sorted(
        m["Id"] for m in props["Metrics"] if "MetricStat" in m
    )
    assert (props["Threshold"], props["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )


def test_phase_clock_alarms_name_the_scheduled_function(template) -> None:
    errors = template["Resources"]["PhaseClockErrorsAlarm"]["Properties"]
    stopped = template["Resources"]["PhaseClockStoppedAlarm"]["Properties"]
    function = {"Fn::Sub": f"pb-scheduled-${{Stage}}-{SCHEDULED_FUNCTIONS[0]}"}

    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": function}]
    assert (stopped["MetricName"], stopped["TreatMissingData"]) == (
        "Invocations",
        "breaching",
    )
    assert stopped["Dimensions"] == errors["Dimensions"]


def test_dead_letter_queue_and_its_alarm(template) -> None:
    queue = template["Resources"]["ScheduledDeadLetterQueue"]
    alarm = template["Resources"]["ScheduledDeadLetterAlarm"]["Properties"]

    assert "Condition" not in queue  # moto builds it: the local stack has one
    assert queue["Properties"]["QueueName"] == {"Fn::Sub": "pb-${Stage}-scheduled-dlq"}
    assert queue["Properties"]["MessageRetentionPeriod"] == 1209600
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": ["ScheduledDeadLetterQueue", "QueueName"]},
        }
    ]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_scheduled_role_may_send_only_to_its_dead_letter_queue(stage) -> None:
    policy = json.loads(
        (ROOT / "scheduled" / ".chalice" / f"policy-{stage}.json").read_text()
    )

    sqs = [s for s in policy["Statement"] if any("sqs:" in a for a in s["Action"])]
    assert sqs == [
        {
            "Sid": "SendFailedRunsToTheDeadLetterQueue",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": f"arn:aws:sqs:*:*:pb-{stage}-scheduled-dlq",
        }
    ]


def test_email_subscription_only_with_an_address_and_alarms(template) -> None:
    subscription = template["Resources"]["AlarmEmailSubscription"]
    pattern = template["Parameters"]["AlarmEmail"]["AllowedPattern"]

    assert subscription["Condition"] == "SubscribeAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert template["Conditions"]["SubscribeAlarmEmail"] == {
        "Fn::And": [
            {"Fn::Condition": "DeployAlarms"},  # the loader's form of !Condition
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
        ]
    }
    for good in ("", "city-it-oncall@boston.gov"):
        assert re.fullmatch(pattern, good)
    for bad in ("two words@boston.gov", "a@b@c", "no-at-sign"):
        assert not re.fullmatch(pattern, bad)


def test_local_stack_has_the_queue_and_topic_but_no_alarms(stack) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    sns = boto3.client("sns", region_name="us-east-1")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")

    url = sqs.get_queue_url(QueueName="pb-dev-scheduled-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])

    assert stack["ScheduledDeadLetterQueueUrl"] == url
    assert stack["ScheduledDeadLetterQueueArn"] == attributes["Attributes"]["QueueArn"]
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert topics == [stack["AlarmTopicArn"]]
    assert stack["AlarmTopicArn"].endswith(":pb-dev-alarms")
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
