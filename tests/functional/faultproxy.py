"""A fault-injecting HTTP proxy on loopback, in front of the moto server.

``chalice local`` is pointed at it (``LocalRun(api_aws_endpoint=...)``); it
forwards every AWS call to moto unchanged, except that chosen DynamoDB
operations (recognised by their ``X-Amz-Target``) can be answered with an
error DynamoDB really sends, held until several have arrived, or have their
answer delayed or replaced by a 500 after moto has applied them. It counts
every call, so a test can say how many ``TransactWriteItems`` a ballot took
(``bench/bench_load.py`` uses it, with no rules, to count calls per ballot).
A call with no target (S3) is named by its method and path:
``HEAD /bucket/key``.

Rules apply in the order they were added, each to its next ``times`` calls.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOST = "127.0.0.1"
#: What DynamoDB answers when throttled, by the name a test uses.
THROTTLES = {
    "ThrottlingException": "com.amazon.coral.availability#ThrottlingException",
    "ProvisionedThroughputExceededException": (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
    ),
}
_CANCELLED = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
_DYNAMODB = "DynamoDB_20120810."
_INTERNAL = "com.amazonaws.dynamodb.v20120810#InternalServerError"
# Hop-by-hop headers, and the ones the proxy sets itself.
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclasses.dataclass
class _Rule:
    operation: str
    action: str  # "throttle", "cancel", "gather", "delay" or "lose"
    remaining: float
    detail: object = None


class FaultProxy:
    """The proxy; use as a context manager. ``url`` is its endpoint."""

    def __init__(self, upstream: str, port: int = 0):
        parts = urlsplit(upstream)
        if parts.hostname != HOST:
            raise ValueError(f"the proxy only forwards to {HOST}, not {upstream}")
        self._upstream = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._calls: Counter = Counter()
        self._gathered = threading.Condition(self._lock)
        self._waiting: Counter = Counter()
        self._forwarded: Counter = Counter()
        self._server = ThreadingHTTPServer((HOST, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what a test asks for -------------------------------------------

    def throttle(self, operation: str, error: str, times: float) -> None:
        """Answer the next ``times`` calls with a throttling error (HTTP 400)."""
        self._add(_Rule(operation, "throttle", times, THROTTLES[error]))

    def cancel(self, operation: str, reasons: list[str], times: float) -> None:
        """Answer the next ``times`` transactions with TransactionCanceledException.

        ``reasons`` are the cancellation codes of the first operations, in the
        order they were sent; the rest get ``None``, as DynamoDB gives them.
        """
        self._add(_Rule(operation, "cancel", times, list(reasons)))

    def delay_answer(self, operation: str, seconds: float, times: float = 1) -> None:
        """Forward the next calls, then hold moto's answer ``seconds`` longer."""
        self._add(_Rule(operation, "delay", times, seconds))

    def lose_answer(self, operation: str, times: float = 1) -> None:
        """Forward the next calls, then answer 500 as if the answer were lost."""
        self._add(_Rule(operation, "lose", times))

    def gather(self, operation: str, count: int, timeout: float = 10) -> None:
        """Hold the next ``count`` calls until all of them have arrived."""
        self._add(_Rule(operation, "gather", count, (count, timeout)))

    def gathered(self, operation: str) -> bool:
        """Whether every call a ``gather`` of ``operation`` waited for came."""
        with self._lock:
            rules = [
                r
                for r in self._rules
                if r.operation == operation and r.action == "gather"
            ]
            return bool(rules) and all(
                self._waiting[id(r)] >= r.detail[0] for r in rules
            )

    def calls(self, operation: str) -> int:
        """How many calls of ``operation`` reached the proxy."""
        with self._lock:
            return self._calls[operation]

    def dynamodb_calls(self) -> Counter:
        """Calls by DynamoDB operation, since the last reset."""
        with self._lock:
            return Counter(
                {op: n for op, n in self._calls.items() if op.isalnum() and n}
            )

    def wait_forwarded(self, operation: str, count: int, timeout: float = 10) -> bool:
        """Wait until moto has answered ``count`` calls of ``operation``."""
        deadline = time.monotonic() + timeout
        with self._gathered:
            while self._forwarded[operation] < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._gathered.wait(left)
        return True

    def reset(self) -> None:
        """Forget every rule and count."""
        with self._lock:
            self._rules.clear()
            self._calls.clear()
            self._forwarded.clear()

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    # -- serving --------------------------------------------------------

    def _take(self, operation: str) -> _Rule | None:
        with self._lock:
            self._calls[operation] += 1
            for rule in self._rules:
                if rule.operation == operation and rule.remaining > 0:
                    rule.remaining -= 1
                    return rule
        return None

    def _wait_for_the_others(self, rule: _Rule) -> None:
        count, timeout = rule.detail
        deadline = time.monotonic() + timeout
        with self._gathered:
            self._waiting[id(rule)] += 1
            self._gathered.notify_all()
            while self._waiting[id(rule)] < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return  # let it through; ``gathered`` tells the test
                self._gathered.wait(left)

    def _forward(self, operation, method, path, headers, body):
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            forwarded = answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()
        with self._gathered:
            self._forwarded[operation] += 1
            self._gathered.notify_all()
        return forwarded

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._take(operation := self._operation())
                if rule is not None and rule.action == "throttle":
                    message = "Rate of requests exceeds the allowed throughput."
                    return self._answer_error(rule.detail, {"message": message})
                if rule is not None and rule.action == "cancel":
                    return self._answer_cancelled(rule.detail, body)
                if rule is not None and rule.action == "gather":
                    proxy._wait_for_the_others(rule)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() != "connection"
                }
                status, answer_headers, answer = proxy._forward(
                    operation, self.command, self.path, headers, body
                )
                if rule is not None and rule.action == "delay":
                    time.sleep(rule.detail)
                if rule is not None and rule.action == "lose":
                    return self._answer_error(_INTERNAL, {"message": "Internal"}, 500)
                self._answer(status, answer_headers, answer)

            def _operation(self) -> str:
                """``TransactWriteItems`` for DynamoDB, the whole target for
                other JSON services, ``HEAD /bucket/key`` for S3."""
                target = self.headers.get("X-Amz-Target", "")
                if target.startswith(_DYNAMODB):
                    return target.removeprefix(_DYNAMODB)
                if target:
                    return target  # secretsmanager.GetSecretValue, say
                return f"{self.command} {urlsplit(self.path).path}"

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

            def _answer_error(self, error_type, extra: dict, status=400) -> None:
                body = json.dumps({"__type": error_type, **extra}).encode()
                self._answer(
                    status, [("Content-Type", "application/x-amz-json-1.0")], body
                )

            def _answer_cancelled(self, reasons: list[str], body: bytes) -> None:
                sent = len(json.loads(body or b"{}").get("TransactItems", []))
                codes = list(reasons) + ["None"] * (sent - len(reasons))
                self._answer_error(
                    _CANCELLED,
                    {
                        "Message": "Transaction cancelled, please refer "
                        "cancellation reasons for specific reasons "
                        f"[{', '.join(codes)}]",
                        "CancellationReasons": [
                            {"Code": code}
                            if code == "None"
                            else {"Code": code, "Message": code}
                            for code in codes
                        ],
                    },
                )

            def _answer(self, status: int, headers, body: bytes) -> None:
                try:
                    self.send_response(status)
                    length = str(len(body))
                    for name, value in headers:
                        if name.lower() == "content-length" and self.command == "HEAD":
                            length = value  # the object's, not this empty body's
                        elif name.lower() not in _NOT_FORWARDED:
                            self.send_header(name, value)
                    self.send_header("Content-Length", length)
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
