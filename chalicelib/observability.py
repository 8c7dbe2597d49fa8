"""Structured logs and metrics, wired once per app.

Logs are Powertools JSON lines with the request's correlation id. Log a
constant message plus keys; never a raw event, a voter identifier, a voter
key or a receipt. Metrics go out as CloudWatch embedded-metric lines, in
the ``BostonPB`` namespace with a ``stage`` dimension: ``BallotRecorded``
(``channel``), ``BallotRefused`` (``code``), ``PhaseChanged`` (``phase``),
``StaffSignInRefused`` (``code``) and ``IdeaSubmitted`` (``channel``).
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = "BostonPB"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "pb"))
# Modules log through the standard library; send them through Powertools' JSON.
logging.getLogger("chalicelib").handlers = logger.handlers
logging.getLogger("chalicelib").setLevel(logger.log_level)
logging.getLogger("chalicelib").propagate = False


def count(name: str, **dimensions: str) -> None:
    """Emit one count metric now, with optional dimensions."""
    if os.environ.get("PB_METRICS", "on") == "off":
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE
    ) as metric:
        metric.add_dimension(name="stage", value=os.environ.get("PB_STAGE", "dev"))
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def idea_submitted(channel: str) -> None:
    """Count one idea submitted in the idea-collection phase, by channel
    (``online``, ``event``, ...). Ready for the ideas routes, which do not
    exist yet; like every metric it carries no text of the idea."""
    count("IdeaSubmitted", channel=channel)


def bind_request(request_id: str) -> None:
    logger.append_keys(correlation_id=request_id)
