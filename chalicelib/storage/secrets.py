"""The voter-key secret, read from Secrets Manager once per process."""

from __future__ import annotations

import threading

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import Unavailable


class VoterKeySecret:
    """Callable returning the HMAC key bytes; fetched lazily and cached.

    Rotating the key between cycles means writing a new secret value and
    starting new Lambda containers (a deploy does that); a cycle's voter
    marks must all be made with one key, so never rotate during voting.
    """

    def __init__(self, secret_arn: str, *, client=None):
        self._secret_arn = secret_arn
        self._client = client
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._fetch()
        return self._value

    def _fetch(self) -> bytes:
        client = self._client or boto3.client("secretsmanager")
        try:
            answer = client.get_secret_value(SecretId=self._secret_arn)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("The service is starting; please try again.") from exc
        secret = answer.get("SecretString") or ""
        if len(secret) < 32:
            raise RuntimeError("The voter-key secret is missing or too short.")
        return secret.encode()
