"""``chalice local`` with a listen backlog that takes a burst of clients.

Run as ``python -m pbctl.chalicelocal local ...`` with the arguments of the
``chalice`` command. The dev server behind ``chalice local`` is the standard
library's, which queues 5 connections that are not yet accepted: a burst of
more (the 50 simultaneous ballots of ``tests/functional/test_faults.py``, or
a room of kiosks on ``make up``) gets connection resets before a request is
read. This raises the queue to 1024 (the kernel caps it at
``net.core.somaxconn``) and changes nothing else. Local only: API Gateway
stands in front of the Lambda in AWS.

Known limit: a cold server hit by such a burst is slow to answer it (about
10 s for 50 requests here; under 1.5 s once warm). PynamoDB builds its
botocore clients lazily and without a lock, so every request thread builds
its own. Send one request of each kind first when that matters; a Lambda
serves one request at a time and never pays this.
"""

from __future__ import annotations

import sys

from chalice import local
from chalice.cli import main

BACKLOG = 1024

if __name__ == "__main__":
    local.ThreadedHTTPServer.request_queue_size = BACKLOG
    sys.exit(main())
