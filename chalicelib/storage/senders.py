"""Delivering one-time codes: SMS through SNS, email through SES.

:class:`AwsSender` is the :class:`~chalicelib.verification.Sender` of a
deployed stage. Its clients are built on first use, so moto is in place
first. SMS goes straight to the phone number (SNS ``Publish`` with
``PhoneNumber``, marked transactional); email is sent from the stage's
verified SES identity (``PB_SENDER_EMAIL``). Neither the number nor the
address is logged.

AWS errors are translated here: throttling becomes ``Unavailable`` (503 and
``Retry-After``), a number or address the service refuses becomes
``InvalidInput`` on ``contact``, anything else a plain ``RuntimeError``
(a bland 500 with the AWS code in the log).
"""

from __future__ import annotations

import logging

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import InvalidInput, Unavailable

logger = logging.getLogger(__name__)

_BUSY = {"Throttling", "ThrottlingException", "ThrottledException", "Throttled"}
_REFUSED_NUMBER = {"InvalidParameter", "InvalidParameterValue", "OptedOut"}
_REFUSED_ADDRESS = {"InvalidParameterValue"}


class AwsSender:
    """Sends codes with SNS (SMS) and SES (email) as the stage's identity."""

    def __init__(self, sender_email: str):
        self.sender_email = sender_email
        self._sns = None
        self._ses = None

    def send_sms(self, phone: str, text: str) -> None:
        if self._sns is None:
            self._sns = boto3.client("sns")
        try:
            self._sns.publish(
                PhoneNumber=phone,
                Message=text,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {
                        "DataType": "String",
                        "StringValue": "Transactional",
                    }
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "sns", _REFUSED_NUMBER, "INVALID_PHONE") from exc

    def send_email(self, address: str, subject: str, text: str) -> None:
        if not self.sender_email:
            raise RuntimeError("PB_SENDER_EMAIL is not set: no email can be sent")
        if self._ses is None:
            self._ses = boto3.client("ses")
        try:
            self._ses.send_email(
                Source=self.sender_email,
                Destination={"ToAddresses": [address]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "ses", _REFUSED_ADDRESS, "INVALID_EMAIL") from exc


def _translate(exc: Exception, service: str, refused: set[str], code: str):
    aws_code = (
        exc.response.get("Error", {}).get("Code", "")
        if isinstance(exc, ClientError)
        else type(exc).__name__
    )
    if aws_code in _BUSY:
        logger.warning("code delivery busy", extra={"service": service})
        return Unavailable("Sending is busy; please try again in a moment.")
    if aws_code in refused:
        logger.info("code delivery refused", extra={"service": service})
        return InvalidInput(
            "We cannot send a code there. Check it, or choose another way.",
            field="contact",
            code=code,
        )
    return RuntimeError(f"{service} call failed ({aws_code})")
