"""The collaborators a Lambda needs, built once per process on first use.

Handlers call :func:`get_services`; tests call :func:`reset_services` after
pointing the ``PB_*`` variables at a moto stack, so nothing AWS-shaped exists
before moto does.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.settings import Settings, StaffAuthSettings
from chalicelib.storage.repository import Store
from chalicelib.storage.results import ResultStore
from chalicelib.storage.secrets import VoterKeySecret
from chalicelib.storage.senders import AwsSender
from chalicelib.verification import Limits, Sender

if TYPE_CHECKING:  # PyJWT is a dependency of the API only, not the scheduled app
    from chalicelib.auth import TokenVerifier


@dataclasses.dataclass
class Services:
    settings: Settings
    store: Store
    results: ResultStore
    voter_secret: Callable[[], bytes]
    clock: Callable[[], datetime]
    sender: Sender | None = None
    limits: Limits = dataclasses.field(default_factory=Limits)
    verifier: TokenVerifier | None = None

    def staff_verifier(self) -> TokenVerifier:
        """The staff token checker, built on first use from ``PB_STAFF_*``.

        Only staff routes need it, so a stage without the variables still
        serves the public API; its staff routes then answer a bland 500
        (``MissingSetting`` in the log) rather than letting anyone in.
        """
        if self.verifier is None:
            from chalicelib.auth import TokenVerifier
            from chalicelib.storage.jwks import JwksFetcher

            auth = StaffAuthSettings.from_env()
            self.verifier = TokenVerifier(
                issuer=auth.issuer,
                client_id=auth.client_id,
                keys=JwksFetcher(auth.jwks_url),
            )
        return self.verifier

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            store=Store.from_settings(settings),
            results=ResultStore(settings.results_bucket),
            voter_secret=VoterKeySecret(settings.voter_key_secret_arn),
            clock=lambda: datetime.now(UTC),
            # SMS through SNS, email from the stage's SES identity.
            sender=AwsSender(os.environ.get("PB_SENDER_EMAIL", "")),
            limits=Limits.from_env(),
        )


_services: Services | None = None
_lock = threading.Lock()


def get_services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = Services.from_settings(Settings.from_env())
    return _services


def reset_services(services: Services | None = None) -> None:
    """Forget the cached collaborators, or install ``services`` (tests)."""
    global _services
    _services = services
