"""Transient failures of remote requests, told from permanent ones, and retried with backoff.

A transient failure (HTTP 5xx, throttling, timeouts, dropped or reset connections) is tried
again, up to ``retries`` times, waiting 0.2 s, 0.4 s, 0.8 s ... (capped at 10 s, with jitter);
a permanent one (403, a missing required key, a bad request) fails at once. Either way the
error that is finally raised names the address and, where known, the HTTP status.
"""

from __future__ import annotations

import errno
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ngff_resave.storage.redaction import redact

LOG = logging.getLogger(__name__)

T = TypeVar("T")
# Class names of the transport errors of aiohttp (fsspec's HTTP) and botocore (s3fs) that mean
# the request may succeed when sent again; matched by name so neither library is imported.
TRANSIENT_NAMES = frozenset(
    {
        "ClientConnectionError",
        "ClientConnectionResetError",
        "ClientOSError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "ServerConnectionError",
        "ConnectionTimeoutError",
        "SocketTimeoutError",
        "ClientConnectorError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "EndpointConnectionError",
        "ResponseStreamingError",
        "IncompleteReadError",
    }
)
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.EPIPE,
        errno.EAGAIN,
        errno.EBUSY,
    }
)
THROTTLED = ("SlowDown", "Throttl", "RequestLimitExceeded", "TooManyRequests")


def http_status(err: BaseException) -> int | None:
    """The HTTP status a failed request answered with, where the error says it."""
    status = getattr(err, "status", None)  # aiohttp.ClientResponseError
    if isinstance(status, int):
        return status
    response = getattr(err, "response", None)  # botocore.exceptions.ClientError
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(code, int):
            return code
    cause = err.__cause__ or err.__context__
    return http_status(cause) if cause is not None and cause is not err else None


def is_transient(err: BaseException) -> bool:
    """Whether sending the request again may succeed."""
    if isinstance(
        err,
        FileNotFoundError
        | PermissionError
        | IsADirectoryError
        | NotADirectoryError
        | FileExistsError,
    ):
        return False
    status = http_status(err)
    if status is not None:
        return status >= 500 or status in (408, 429)
    chain: list[BaseException] = [err]
    while chain[-1].__cause__ is not None and len(chain) < 8:
        chain.append(chain[-1].__cause__)
    for each in chain:
        if type(each).__name__ in TRANSIENT_NAMES or isinstance(
            each, TimeoutError | ConnectionError
        ):
            return True
        if isinstance(each, OSError) and each.errno in TRANSIENT_ERRNOS:
            return True
        if any(word in str(each) for word in THROTTLED):
            return True
    return False


def describe(err: BaseException) -> str:
    """The failure in one line, with the HTTP status where known."""
    status = http_status(err)
    text = redact(" ".join(f"{type(err).__name__}: {err}".split()))
    return f"HTTP {status}: {text}" if status is not None else text


@dataclass
class RetryCount:
    """How many requests were retried, and after what (for job records and logs)."""

    retries: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def as_record(self) -> dict[str, Any]:
        with self._lock:
            return {"retries": self.retries, "retried_after": dict(self.reasons)}


def with_retries(action: Callable[[], T], retries: int, where: str, count: RetryCount) -> T:
    """``action()``, tried again after a transient failure, at most ``retries`` more times."""
    for attempt in range(retries + 1):
        try:
            return action()
        except Exception as err:
            if attempt == retries or not is_transient(err):
                raise
            status = http_status(err)
            reason = f"HTTP {status}" if status is not None else type(err).__name__
            count.add(reason)
            wait = min(10.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)
            LOG.warning(
                "%s: %s; retry %d of %d in %.1f s", where, describe(err), attempt + 1, retries, wait
            )
            time.sleep(wait)
    raise AssertionError("unreachable")
