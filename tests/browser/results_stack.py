"""A second local stack whose cycle has closed and published its results.

The browser tier's main stack keeps its cycle open for voting, and the API
serves one current cycle, so the results page needs a stack of its own. It
runs in a child process because :class:`pbctl.localrun.LocalRun` owns this
process's AWS settings (and PynamoDB's table bindings) while it runs.

``python -m tests.browser.results_stack AWS_PORT API_PORT SITE_ORIGIN``
starts the stack, stores :func:`tests.browser.conftest.browser_cycle`, casts
a few ballots through the HTTP API, runs the phase clock past the voting
deadline (which tallies and publishes), prints one ``receipt R`` line per
ballot cast, then ``ready``, and serves until its standard input closes.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.cycle import Phase, format_time
from chalicelib.jobs import run_phase_clock
from pbctl.localrun import HOST, LocalRun, request
from tests.browser.conftest import browser_cycle
from tests.functional.conftest import open_voting

#: The ballots cast before the close: p2 and p5 lead, p3 is left unfunded.
BALLOTS = (["p2", "p5"], ["p2", "p1"], ["p5", "p3"], ["p2"])


def cast(local: LocalRun, selections: list[str]) -> str:
    status, body = request(
        HOST,
        local.api_port,
        "POST",
        "/ballots",
        body={
            "selections": selections,
            "attestation": {"boston_resident": True, "age": 40},
            "voter": {
                "kind": "email",
                "value": f"r{uuid.uuid4().hex[:12]}@example.org",
            },
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    if status != 201:
        raise SystemExit(f"results stack: a ballot was refused: {status} {body}")
    return body["receipt"]


def main(argv: list[str]) -> int:
    aws_port, api_port, site_origin = int(argv[0]), int(argv[1]), argv[2]
    with LocalRun(
        aws_port=aws_port, api_port=api_port, site_origin=site_origin
    ) as local:
        now = datetime.now(UTC)
        cycle = open_voting(local.services.store, browser_cycle(now), now)
        receipts = [cast(local, selections) for selections in BALLOTS]
        after_close = cycle.calendar[Phase.VOTING].end + timedelta(minutes=5)
        run_phase_clock({"time": format_time(after_close)})
        phase = local.services.store.get_cycle(cycle.cycle_id).phase
        if phase is not Phase.RESULTS:
            raise SystemExit(f"results stack: the cycle is in {phase}, not results")
        for receipt in receipts:
            print(f"receipt {receipt}")
        print("ready", flush=True)
        sys.stdin.read()  # serve until the parent closes our standard input
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
