"""Published results in the results bucket: one folder per cycle.

Keys: ``results/<cycle_id>/<name>`` for each file
:mod:`chalicelib.publish` writes (``result.json``, ``result.csv``, the
anonymised ``ballots.pb`` and ``ballots.csv``, ``receipts.txt`` and, when a
cycle opts in, ``ballots-by-receipt.csv``). Each object carries its SHA-256
as ``sha256`` metadata (hex), the digest ``result.json`` also records under
``files`` (as ``sha256:<hex>``). Objects are written only when
their bytes differ from what is there, so a repeated tally leaves the
bucket's versions untouched. Each write is conditional on what was read
(no object yet, or the same ETag), so two tallies racing (two deliveries of
one schedule) write each file once between them.
"""

from __future__ import annotations

import hashlib

import boto3
from botocore.exceptions import ClientError

from chalicelib.errors import NotFound

#: S3's answer to a conditional write that lost a race. Its 409
#: (ConditionalRequestConflict: another write of the key still in flight) is
#: left to raise: the phase clock's next run finds the file and catches up.
_LOST_RACE = {"PreconditionFailed", "412"}

CONTENT_TYPES = {
    "result.json": "application/json",
    "result.csv": "text/csv; charset=utf-8",
    "ballots.pb": "text/plain; charset=utf-8",
    "ballots.csv": "text/csv; charset=utf-8",
    "receipts.txt": "text/plain; charset=utf-8",
    "ballots-by-receipt.csv": "text/csv; charset=utf-8",
}


class ResultStore:
    def __init__(self, bucket: str, *, client=None):
        self.bucket = bucket
        self._client = client

    @property
    def client(self):
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def key(self, cycle_id: str, name: str) -> str:
        return f"results/{cycle_id}/{name}"

    def put(self, cycle_id: str, name: str, body: bytes) -> bool:
        """Write one file unless identical bytes are there; True if it wrote.

        The write only succeeds if the object is still as it was read. When
        another writer got there first with the same bytes this returns
        False; with other bytes it raises ``ResultChanged``.
        """
        digest = hashlib.sha256(body).hexdigest()
        head = self._head(cycle_id, name)
        if head is not None and _sha256(head) == digest:
            return False
        # No object: create it only if still absent; else replace what we saw.
        condition = {"IfMatch": head["ETag"]} if head else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(cycle_id, name),
                Body=body,
                ContentType=CONTENT_TYPES.get(name, "application/octet-stream"),
                Metadata={"sha256": digest},
                **condition,
            )
        except ClientError as exc:
            if _code(exc) not in _LOST_RACE:
                raise
            if self.digest(cycle_id, name) == digest:
                return False
            raise ResultChanged(self.key(cycle_id, name)) from exc
        return True

    def digest(self, cycle_id: str, name: str) -> str | None:
        """The SHA-256 recorded with a published file, or ``None`` if absent."""
        head = self._head(cycle_id, name)
        return None if head is None else _sha256(head)

    def _head(self, cycle_id: str, name: str) -> dict | None:
        try:
            return self.client.head_object(
                Bucket=self.bucket, Key=self.key(cycle_id, name)
            )
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey"):
                return None
            raise

    def get(self, cycle_id: str, name: str) -> bytes:
        """The bytes of one published file; raises ``NotFound``."""
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self.key(cycle_id, name)
            )
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey"):
                raise NotFound(
                    "No results are published for this cycle yet.", field="cycle_id"
                ) from exc
            raise
        return answer["Body"].read()


class ResultChanged(RuntimeError):
    """Another writer published different bytes under the same key meanwhile.

    A deterministic tally of closed voting never does; the phase clock logs
    it and fails the run, so the alarm fires and staff look.
    """

    def __init__(self, key: str):
        super().__init__(f"{key} changed while it was being published")
        self.key = key


def _sha256(head: dict) -> str | None:
    return head.get("Metadata", {}).get("sha256")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
