"""Published results in the results bucket: one folder per cycle.

Keys: ``results/<cycle_id>/<name>`` for each file
:mod:`chalicelib.publish` writes (``result.json``, ``result.csv``, the
anonymised ``ballots.pb`` and ``ballots.csv``, ``receipts.txt`` and, when a
cycle opts in, ``ballots-by-receipt.csv``). Each object carries its SHA-256
as ``sha256`` metadata (hex), the digest ``result.json`` also records under
``files`` (as ``sha256:<hex>``). Objects are written only when
their bytes differ from what is there, so a repeated tally leaves the
bucket's versions untouched.
"""

from __future__ import annotations

import hashlib

import boto3
from botocore.exceptions import ClientError

from chalicelib.errors import NotFound

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
        """Write one file unless identical bytes are there; True if it wrote."""
        digest = hashlib.sha256(body).hexdigest()
        if self.digest(cycle_id, name) == digest:
            return False
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(cycle_id, name),
            Body=body,
            ContentType=CONTENT_TYPES.get(name, "application/octet-stream"),
            Metadata={"sha256": digest},
        )
        return True

    def digest(self, cycle_id: str, name: str) -> str | None:
        """The SHA-256 recorded with a published file, or ``None`` if absent."""
        try:
            head = self.client.head_object(
                Bucket=self.bucket, Key=self.key(cycle_id, name)
            )
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey"):
                return None
            raise
        return head.get("Metadata", {}).get("sha256")

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


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
