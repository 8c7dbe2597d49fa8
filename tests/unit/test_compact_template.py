"""What pbctl deploy sends CloudFormation: the template as compact JSON."""

import json

from pbctl.deploy import MAX_TEMPLATE_BODY, compact_template
from pbctl.localstack import TEMPLATE_PATH, load_template


def test_the_compact_body_is_the_template_and_fits_cloudformations_limit():
    body = compact_template(TEMPLATE_PATH)

    assert json.loads(body) == load_template(TEMPLATE_PATH)
    assert len(body.encode()) <= MAX_TEMPLATE_BODY


def test_condition_references_keep_their_json_form():
    body = compact_template(TEMPLATE_PATH)

    # In JSON templates a condition inside Fn::And is {"Condition": name}.
    assert '"Fn::Condition"' not in body
    assert '{"Condition":"DeployAlarms"}' in body
