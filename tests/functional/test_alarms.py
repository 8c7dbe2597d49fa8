"""The alarms, their topic and the scheduled app's dead-letter queue.

moto's CloudFormation builds the queue and the topic but has no
``AWS::CloudWatch::Alarm`` and no ``AWS::SNS::Subscription``: those sit under
the ``DeployAlarms`` condition, which the local stack turns off
(``CreateAlarms=false``), and are asserted on the parsed template here. The
audit watch (the audit table's stream, a filtered Lambda and its alarm) sits
under the same condition; its function's code is run here on sample stream
records, and the stream filter is checked against AWS's filter rules as
far as they apply (exact-match lists on ``eventName``).
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
        "AuditChangedAlarm",
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


def test_api_alarm_watches_the_5xx_rate_of_the_stages_own_api(template) -> None:
    props = template["Resources"]["ApiServerErrorRateAlarm"]["Properties"]
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    merge = json.loads((ROOT / "infra" / "api-gateway-responses.json").read_text())
    metrics = {m["Id"]: m for m in props["Metrics"]}

    # Each stage's API is named pb-api-<stage> by the API stack's merge
    # template: two stages in one account never share the alarm's metric.
    api_name = {"Fn::Sub": "pb-api-${Stage}"}
    assert merge["Resources"]["RestAPI"]["Properties"]["Name"] == api_name
    for metric_id, name in (("errors", "5XXError"), ("requests", "Count")):
        stat = metrics[metric_id]["MetricStat"]
        assert metrics[metric_id]["ReturnData"] is False
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
            "AWS/ApiGateway",
            name,
        )
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "ApiName", "Value": api_name},
            {"Name": "Stage", "Value": config["stages"]["prod"]["api_gateway_stage"]},
        ]
    assert props["Threshold"] == 0.05
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 2)


def rate_of(expression: str, errors: float, requests: float, minimum: int) -> float:
    """Evaluate the alarm's metric math (IF, >=, /) for one period."""
    match = re.fullmatch(
        r"IF\(requests >= \$\{ApiAlarmMinRequests\}, errors / requests, 0\)",
        expression,
    )
    assert match, expression
    return errors / requests if requests >= minimum else 0


@pytest.mark.parametrize(
    ("errors", "requests", "alarms"),
    [
        (2, 3, False),  # 67% of three requests at night: too few to matter
        (0, 0, False),
        (1, 20, False),  # 5%: not above the threshold
        (2, 20, True),  # 10% of enough requests
        (300, 1000, True),
    ],
)
def test_api_alarm_needs_a_minimum_of_requests(template, errors, requests, alarms):
    props = template["Resources"]["ApiServerErrorRateAlarm"]["Properties"]
    (rate,) = [m for m in props["Metrics"] if "Expression" in m]
    minimum = template["Parameters"]["ApiAlarmMinRequests"]

    value = rate_of(rate["Expression"]["Fn::Sub"], errors, requests, minimum["Default"])

    assert rate["ReturnData"] is True
    assert (minimum["Type"], minimum["Default"], minimum["MinValue"]) == (
        "Number",
        20,
        1,
    )
    assert (value > props["Threshold"]) is alarms


def test_audit_table_streams_keys_only_and_only_with_alarms(template) -> None:
    table = template["Resources"]["AuditTable"]["Properties"]

    assert table["StreamSpecification"] == {
        "Fn::If": [
            "DeployAlarms",
            {"StreamViewType": "KEYS_ONLY"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    for name in ("CyclesTable", "VoterMarksTable", "BallotsTable"):
        assert "StreamSpecification" not in template["Resources"][name]["Properties"]


def test_audit_watch_sees_only_modify_and_remove(template) -> None:
    mapping = template["Resources"]["AuditWatchEvents"]
    alarm = template["Resources"]["AuditChangedAlarm"]["Properties"]
    role = template["Resources"]["AuditWatchRole"]["Properties"]
    (pattern,) = [
        json.loads(f["Pattern"])
        for f in mapping["Properties"]["FilterCriteria"]["Filters"]
    ]

    assert mapping["Condition"] == "DeployAlarms"
    assert mapping["Properties"]["EventSourceArn"] == {
        "Fn::GetAtt": ["AuditTable", "StreamArn"]
    }
    assert pattern == {"eventName": ["MODIFY", "REMOVE"]}
    for event, passes in (("INSERT", False), ("MODIFY", True), ("REMOVE", True)):
        assert (event in pattern["eventName"]) is passes
    # Every invocation is a changed entry: the alarm counts invocations.
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Invocations")
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": "AuditWatchFunction"}}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    # The function may read the stream and write its logs, nothing else.
    (policy,) = role["Policies"]
    actions = {a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert actions == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_audit_watch_logs_the_keys_of_each_changed_entry(template, capsys) -> None:
    code = template["Resources"]["AuditWatchFunction"]["Properties"]["Code"]
    namespace: dict = {}
    exec(compile(code["ZipFile"], "audit-watch", "exec"), namespace)
    event = {
        "Records": [
            {
                "eventName": "MODIFY",
                "dynamodb": {
                    "Keys": {
                        "cycle_id": {"S": "boston-2027"},
                        "entry_id": {"S": "00000001#abc"},
                    }
                },
                "userIdentity": None,
            },
            {
                "eventName": "REMOVE",
                "dynamodb": {
                    "Keys": {"cycle_id": {"S": "@staff"}, "entry_id": {"S": "2#d"}}
                },
            },
        ]
    }

    answer = namespace["handler"](event, None)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert answer == {"changed": 2}
    assert [(x["event"], x["cycle_id"], x["entry_id"]) for x in lines] == [
        ("MODIFY", "boston-2027", "00000001#abc"),
        ("REMOVE", "@staff", "2#d"),
    ]
    assert {x["level"] for x in lines} == {"ERROR"}


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
        # The table in use: a restored one while the stage is swapped to it.
        restored = table.replace("Table", "")
        assert dims["TableName"] == {
            "Fn::If": [
                f"UseRestored{restored}Table",
                {"Ref": f"Restored{restored}Table"},
                {"Ref": table},
            ]
        }
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
            {"Condition": "DeployAlarms"},  # the loader's form of !Condition
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
