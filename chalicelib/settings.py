"""Where the stateful resources of a stage live, as the apps learn it.

Both Chalice apps read the names of their tables, buckets and secret from
``PB_*`` environment variables, which Chalice stage configuration sets from the
outputs of the ``infra/`` stack. This module only maps names; it imports no AWS
client, so code can resolve ``Settings`` lazily, after moto has started.

``Settings.from_env`` raises ``MissingSetting`` (a ``KeyError``) naming the
first variable that is missing, empty, or still holds the placeholder that
``.chalice/config.json`` ships with (``pbctl-deploy-fills:<OutputName>``,
replaced from the stack outputs at deploy time).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

STAGES = ("dev", "prod")
PLACEHOLDER_PREFIX = "pbctl-deploy-fills:"


class MissingSetting(KeyError):
    """A required ``PB_*`` variable or stack output is missing or empty."""

    def __init__(self, name: str, source: str, reason: str = "is not set") -> None:
        super().__init__(name)
        self.name = name
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.source} {self.name} {self.reason}"


# field name -> (environment variable, CloudFormation output of infra/template.yaml)
_SOURCES: dict[str, tuple[str, str | None]] = {
    "cycles_table": ("PB_CYCLES_TABLE", "CyclesTableName"),
    "voter_marks_table": ("PB_VOTER_MARKS_TABLE", "VoterMarksTableName"),
    "ballots_table": ("PB_BALLOTS_TABLE", "BallotsTableName"),
    "idempotency_table": ("PB_IDEMPOTENCY_TABLE", "IdempotencyTableName"),
    "audit_table": ("PB_AUDIT_TABLE", "AuditTableName"),
    "verification_table": ("PB_VERIFICATION_TABLE", "VerificationTableName"),
    "paper_table": ("PB_PAPER_TABLE", "PaperTableName"),
    "site_bucket": ("PB_SITE_BUCKET", "SiteBucketName"),
    "results_bucket": ("PB_RESULTS_BUCKET", "ResultsBucketName"),
    "voter_key_secret_arn": ("PB_VOTER_KEY_SECRET_ARN", "VoterKeySecretArn"),
    "stage": ("PB_STAGE", None),
}


@dataclass(frozen=True)
class Settings:
    """Names of one stage's tables, buckets and voter-key secret."""

    cycles_table: str
    voter_marks_table: str
    ballots_table: str
    idempotency_table: str
    audit_table: str
    verification_table: str
    paper_table: str
    site_bucket: str
    results_bucket: str
    voter_key_secret_arn: str
    stage: str

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {self.stage!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read the settings from ``PB_*`` variables.

        Returns the settings. Raises ``MissingSetting`` naming the first missing,
        empty or unfilled variable, and ``ValueError`` for an unknown ``PB_STAGE``.
        """
        values = {}
        for field_name, (variable, _) in _SOURCES.items():
            value = environ.get(variable, "")
            if not value:
                raise MissingSetting(variable, "environment variable")
            if value.startswith(PLACEHOLDER_PREFIX):
                raise MissingSetting(
                    variable,
                    "environment variable",
                    "still holds its placeholder; deploy with `pbctl deploy`, "
                    "which fills it from the stack outputs",
                )
            values[field_name] = value
        return cls(**values)

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, str], stage: str) -> Settings:
        """Build the settings from the outputs of the ``infra/`` stack.

        ``outputs`` maps output names (``CyclesTableName``, ...) to values.
        Returns the settings. Raises ``MissingSetting`` naming the first missing
        or empty output, and ``ValueError`` for an unknown stage.
        """
        values = {"stage": stage}
        for field_name, (_, output) in _SOURCES.items():
            if output is None:
                continue
            value = outputs.get(output, "")
            if not value:
                raise MissingSetting(output, "stack output")
            values[field_name] = value
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """Return the ``PB_*`` variables that ``from_env`` reads back."""
        return {
            _SOURCES[field.name][0]: getattr(self, field.name) for field in fields(self)
        }


@dataclass(frozen=True)
class StaffAuthSettings:
    """What the API checks a staff access token against.

    ``issuer`` is the pool's ``iss`` (output ``UserPoolIssuer``), ``client_id``
    the one app client whose tokens are accepted (``UserPoolClientId``), and
    ``jwks_url`` where the pool's public keys are; it defaults to the
    issuer's ``/.well-known/jwks.json`` and only the local stack sets it.
    Kept apart from :class:`Settings` because only the API's staff routes
    need it: the public routes and the scheduled app run without it.
    """

    issuer: str
    client_id: str
    jwks_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StaffAuthSettings:
        """Read ``PB_STAFF_ISSUER``, ``PB_STAFF_CLIENT_ID``, ``PB_STAFF_JWKS_URL``.

        Raises ``MissingSetting`` naming a missing or unfilled variable.
        """
        values = {}
        for name, variable in (
            ("issuer", "PB_STAFF_ISSUER"),
            ("client_id", "PB_STAFF_CLIENT_ID"),
        ):
            value = environ.get(variable, "")
            if not value:
                raise MissingSetting(variable, "environment variable")
            if value.startswith(PLACEHOLDER_PREFIX):
                raise MissingSetting(
                    variable, "environment variable", "still holds its placeholder"
                )
            values[name] = value
        jwks_url = environ.get("PB_STAFF_JWKS_URL", "")
        if not jwks_url:
            jwks_url = values["issuer"].rstrip("/") + "/.well-known/jwks.json"
        return cls(jwks_url=jwks_url, **values)

    @classmethod
    def from_stack_outputs(
        cls, outputs: Mapping[str, str], *, jwks_url: str = ""
    ) -> StaffAuthSettings:
        """Build from the stack outputs; raises ``MissingSetting``."""
        values = {}
        for name, output in (
            ("issuer", "UserPoolIssuer"),
            ("client_id", "UserPoolClientId"),
        ):
            if not outputs.get(output):
                raise MissingSetting(output, "stack output")
            values[name] = outputs[output]
        jwks_url = jwks_url or values["issuer"].rstrip("/") + "/.well-known/jwks.json"
        return cls(jwks_url=jwks_url, **values)

    def to_env(self) -> dict[str, str]:
        return {
            "PB_STAFF_ISSUER": self.issuer,
            "PB_STAFF_CLIENT_ID": self.client_id,
            "PB_STAFF_JWKS_URL": self.jwks_url,
        }
