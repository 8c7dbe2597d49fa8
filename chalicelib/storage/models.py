"""PynamoDB models of the six tables that ``infra/template.yaml`` creates.

Table names are not known at import time: :func:`bind` sets them from the
stage's :class:`~chalicelib.settings.Settings` on first use, so moto (or the
real account) is in place before any client exists.

What each table holds, and what it must never hold:

- ``cycles``: one item per cycle (the rules, calendar, ballot, phase and
  version) and the ``@current`` pointer item.
- ``voter-marks``: one item per voter per cycle, keyed by the keyed HMAC of
  the voter's identity. Turnout fields only (channel, neighbourhood, age
  bracket, day). No ballot id, no receipt, no time finer than a day. Its
  ``by-cycle`` index (channel and neighbourhood) serves the staff dashboard.
- ``ballots``: one item per ballot: its selections and the hash of its
  receipt. No voter key, no time finer than a day.
- ``idempotency``: what a retried submission is checked against (a hash of
  its choices), expiring by TTL at a whole day. No voter key, no receipt:
  the receipt is derived again from the client's key, which is not stored.
- ``verification``: how residents prove who they are before voting, one
  item per key prefix: ``otp#`` one-time-code challenges, ``code#`` access
  codes and ``batch#`` their printed batches (``batches#<cycle_id>`` lists a
  cycle's batch ids), ``rate#`` per-hour counters of
  the rate limits. Only keyed HMACs of contacts and codes, never the raw
  values; challenges and counters expire by TTL. No ballot id.
- ``audit``: append-only record of phase changes, staff actions and refused
  staff requests. Entries of no particular cycle go under ``@staff``.
- ``paper``: paper ballots on their way in, under the cycle's id: one item
  per batch (``batch#<id>``: site, cover-sheet count, status, the outcome of
  its count), one per entry of a batch (``entry#<batch>#<entry>``: who typed
  it and, until the batch is counted or discarded, its sheets) and the
  ``@ledger`` (how many batches the tally waits for; ``sealed`` once the
  tally has started). A sheet holds its selections and its voter's mark key
  (the HMAC, never the identity) until the count; then only counts remain.
"""

from __future__ import annotations

import os

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.settings import Settings


class CycleModel(Model):
    class Meta:
        table_name = "unbound-cycles"

    cycle_id = UnicodeAttribute(hash_key=True)
    phase = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)
    ballot_hash = UnicodeAttribute(null=True)
    document = JSONAttribute(null=True)
    points_to = UnicodeAttribute(null=True)


class VoterMarksByCycle(GlobalSecondaryIndex):
    """The ``by-cycle`` index: channel and neighbourhood of a cycle's marks."""

    class Meta:
        index_name = "by-cycle"
        projection = IncludeProjection(["channel", "neighbourhood"])

    cycle_id = UnicodeAttribute(hash_key=True)


class VoterMarkModel(Model):
    class Meta:
        table_name = "unbound-voter-marks"

    by_cycle = VoterMarksByCycle()
    voter_key = UnicodeAttribute(hash_key=True)
    cycle_id = UnicodeAttribute()
    voted_on = UnicodeAttribute()
    channel = UnicodeAttribute()
    neighbourhood = UnicodeAttribute(null=True)
    age_bracket = UnicodeAttribute(null=True)


class BallotModel(Model):
    class Meta:
        table_name = "unbound-ballots"

    cycle_id = UnicodeAttribute(hash_key=True)
    ballot_id = UnicodeAttribute(range_key=True)
    selections = ListAttribute(of=UnicodeAttribute)
    ballot_hash = UnicodeAttribute()
    cast_on = UnicodeAttribute()


class IdempotencyModel(Model):
    class Meta:
        table_name = "unbound-idempotency"

    idempotency_id = UnicodeAttribute(hash_key=True)
    fingerprint = UnicodeAttribute()
    recorded_on = UnicodeAttribute()
    expires_at = NumberAttribute()


class VerificationModel(Model):
    """One item of the verification table; which attributes it uses depends
    on the prefix of ``pk`` (see the module docstring)."""

    class Meta:
        table_name = "unbound-verification"

    pk = UnicodeAttribute(hash_key=True)
    cycle_id = UnicodeAttribute(null=True)
    #: otp#: the HMAC voter key the code proves; code#: the batch it came in.
    subject = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    secret_hash = UnicodeAttribute(null=True)
    #: otp#: wrong and right tries so far (at most verification.MAX_ATTEMPTS).
    attempts = NumberAttribute(null=True)
    #: rate#: requests this hour; batch#: codes printed in the batch.
    count = NumberAttribute(null=True)
    #: batch#: codes of the batch redeemed so far.
    used_count = NumberAttribute(null=True)
    site = UnicodeAttribute(null=True)
    #: batch#: "active" or "revoked".
    status = UnicodeAttribute(null=True)
    #: batch#: why it was revoked.
    reason = UnicodeAttribute(null=True)
    used = BooleanAttribute(null=True)
    created_on = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    #: batch#: codes of the batch used so far, and why it was revoked.
    used_count = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    #: batches#: the ids of the cycle's batches (the table has no range key
    #: to query them by, and the API may not scan it).
    batch_ids = UnicodeSetAttribute(null=True)


class AuditModel(Model):
    class Meta:
        table_name = "unbound-audit"

    cycle_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    before = JSONAttribute(null=True)
    after = JSONAttribute(null=True)


class PaperModel(Model):
    class Meta:
        table_name = "unbound-paper"

    cycle_id = UnicodeAttribute(hash_key=True)
    item_id = UnicodeAttribute(range_key=True)
    version = NumberAttribute(default=0)
    status = UnicodeAttribute(null=True)
    document = JSONAttribute(null=True)
    pending = NumberAttribute(null=True)
    sealed = BooleanAttribute(null=True)


MODELS = (
    CycleModel,
    VoterMarkModel,
    BallotModel,
    IdempotencyModel,
    VerificationModel,
    AuditModel,
    PaperModel,
)


def bind(settings: Settings) -> None:
    """Point every model at the stage's tables and drop cached connections."""
    names = {
        CycleModel: settings.cycles_table,
        VoterMarkModel: settings.voter_marks_table,
        BallotModel: settings.ballots_table,
        IdempotencyModel: settings.idempotency_table,
        VerificationModel: settings.verification_table,
        AuditModel: settings.audit_table,
        PaperModel: settings.paper_table,
    }
    region = os.environ.get("AWS_REGION") or os.environ.get(
        "AWS_DEFAULT_REGION", "us-east-1"
    )
    for model, table_name in names.items():
        model.Meta.table_name = table_name
        model.Meta.region = region
        model._connection = None
