"""Real servers on 127.0.0.1 for tests of remote storage: S3, plain HTTP, and a faulty proxy.

Tests reach them through the client code users run (fsspec, s3fs); nothing of ours is mocked.

- :class:`MotoServer`: moto's S3 in its own process (``python -m moto.server``).
- :func:`serve_folder`: a read-only HTTP server of a local folder that, like an object store
  behind HTTPS, does not list folders (a folder answers 404); single byte ranges work.
- :class:`FaultProxy`: a reverse proxy in front of either, answering a bounded number of
  requests with a fault: 503, a slow answer, a dropped connection, or half a body.

Rules these keep: they listen on 127.0.0.1 only and forward only to 127.0.0.1; tests start and
stop them; every loop is bounded in count and in time (sockets have timeouts).

Fixtures: ``s3_server`` (session), ``s3_bucket``, ``http_folder`` and ``fault_proxy``. A test
module imports them by name, ``from remote_servers import s3_server  # noqa: F401``; ruff then
takes each test's ``s3_server`` parameter for a redefinition (F811), which importing them
under their other names avoids::

    from remote_servers import s3_bucket_fixture, s3_server_fixture  # noqa: F401
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import s3fs

LOOPBACK = "127.0.0.1"
# Seconds a socket of these servers waits for its peer before giving up.
SOCKET_TIMEOUT = 30.0

# Fake credentials of the test session; tests grep outputs for the secret, so it is distinctive.
ACCESS_KEY = "ngff-resave-test-key"
SECRET = f"ngff-resave-test-secret-{uuid.uuid4().hex}"
REGION = "us-east-1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def loopback_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http://127.0.0.1:PORT`` URL; any other address is refused."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in (LOOPBACK, "localhost") or not parts.port:
        raise ValueError(f"only http://{LOOPBACK}:PORT is allowed here, not {url!r}")
    return LOOPBACK, parts.port


# --- S3 (moto) ---


class MotoServer:
    """moto's server (S3 and the rest of AWS) in a child process on 127.0.0.1 and a free port.

    moto runs in its own process so that it leaves botocore in the test process untouched.
    Its request log goes to ``log_path``.
    """

    def __init__(self, log_path: Path, start_timeout: float = 30.0) -> None:
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        # The port is free when chosen but could be taken before moto binds it: a few tries.
        for _attempt in range(3):
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_until_ready():
                return
            self.stop()
        raise RuntimeError(f"moto did not start; its log: {self.log_path}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class S3Server:
    """A running S3 server for tests, and what clients need to reach it."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret: str = SECRET
    region: str = REGION

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec storage options that reach this server (credentials come from the env)."""
        return {"endpoint_url": self.endpoint}

    def fs(self) -> s3fs.S3FileSystem:
        """The s3fs file system of this server (fsspec reuses one instance for equal options)."""
        import s3fs

        return s3fs.S3FileSystem(endpoint_url=self.endpoint)

    def make_bucket(self, name: str) -> str:
        """Create the bucket ``name``; its URL, ``s3://name``."""
        self.fs().mkdir(name)
        return f"s3://{name}"

    def remove_bucket(self, name: str) -> None:
        """Delete the bucket ``name`` and everything in it."""
        fs = self.fs()
        keys = fs.find(name)
        if keys:
            fs.rm(keys)
        fs.rmdir(name)
        fs.invalidate_cache()

    def upload(self, local: str | os.PathLike[str], url: str) -> list[str]:
        """Copy a local file to ``url``, or a folder's files below ``url`` (``url/relative``).

        The keys written, sorted."""
        source = Path(local)
        target = url.rstrip("/")
        if source.is_file():
            pairs = [(source, target)]
        else:
            files = sorted(p for p in source.rglob("*") if p.is_file())
            pairs = [(p, f"{target}/{p.relative_to(source).as_posix()}") for p in files]
        if not pairs:
            raise ValueError(f"nothing to upload in {source}")
        fs = self.fs()
        fs.put([str(p) for p, _ in pairs], [t for _, t in pairs])
        fs.invalidate_cache()
        return sorted(t for _, t in pairs)


def set_fake_aws_environment(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Fake credentials, and nothing of the developer's own AWS setup (config files, profile,
    endpoints, retry settings); never the instance metadata service; no proxy for 127.0.0.1."""
    for name in list(os.environ):
        if name.upper().startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "missing-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "missing-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("NO_PROXY", "no_proxy"):
        kept = [e for e in os.environ.get(name, "").split(",") if e.strip()]
        monkeypatch.setenv(name, ",".join([*kept, LOOPBACK, "localhost"]))


# One moto server for the whole session, however many test modules import the fixture (pytest
# makes one session fixture per importing module): started by the first, stopped by the last.
_shared_lock = threading.Lock()
_shared: dict[str, Any] = {"server": None, "users": 0}


@contextmanager
def shared_moto_server(folder: Path) -> Iterator[MotoServer]:
    with _shared_lock:
        if _shared["server"] is None:
            server = MotoServer(folder / "moto.log")
            server.start()
            _shared["server"] = server
        _shared["users"] += 1
        server = _shared["server"]
    try:
        yield server
    finally:
        with _shared_lock:
            _shared["users"] -= 1
            if _shared["users"] == 0:
                _shared["server"] = None
                server.stop()


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3 server (moto) on 127.0.0.1 for the session, with fake credentials in the env."""
    folder = tmp_path_factory.mktemp("s3-server")
    with pytest.MonkeyPatch.context() as monkeypatch:
        set_fake_aws_environment(monkeypatch, folder)
        with shared_moto_server(folder) as server:
            yield S3Server(server.endpoint)


@pytest.fixture(name="s3_bucket")
def s3_bucket_fixture(s3_server: S3Server) -> Iterator[str]:
    """A fresh, empty bucket, ``s3://name``; deleted with its contents afterwards."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    url = s3_server.make_bucket(name)
    yield url
    s3_server.remove_bucket(name)


# --- HTTP servers: the folder server and the proxy share their plumbing ---


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 that can be stopped with its connections open."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__((LOOPBACK, 0), handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Errors in handlers (mostly clients gone away), counted instead of printed.
        self.handler_errors = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.handler_errors += 1

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        # Keep-alive connections would hold their threads until the socket timeout.
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_bytes(
        self, status: int, body: bytes, headers: Mapping[str, str] | None = None, *, head: bool
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


# --- HTTP: a folder, read-only, without listings ---


class Unsatisfiable(Exception):
    """A byte range outside the file."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte of a single ``bytes=`` range (``last`` included), clipped to the
    file's ``size``; None for a header this server ignores (then the whole file is sent).
    Raises :class:`Unsatisfiable` for a range outside the file."""
    unit, _, spec = header.partition("=")
    first_text, dash, last_text = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not dash:
        return None
    try:
        if first_text == "":
            suffix = int(last_text)
            first, last = size - suffix, size - 1
            if suffix <= 0 or size == 0:
                raise Unsatisfiable(header)
            return max(0, first), last
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        raise Unsatisfiable(header)
    if first < 0 or last < first:
        return None
    return first, min(last, size - 1)


class FolderHandler(QuietHandler):
    """GET and HEAD of the files below ``server.root``; anything else is refused."""

    server: FolderServer

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _refuse(self) -> None:
        self.close_connection = True
        self.send_bytes(405, b"read-only\n", {"Allow": "GET, HEAD"}, head=False)

    do_PUT = do_POST = do_DELETE = do_PATCH = _refuse

    def _file(self) -> Path | None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            return None
        file = self.server.root.joinpath(*parts)
        try:
            file.resolve().relative_to(self.server.root)
        except ValueError:
            return None
        return file if file.is_file() else None

    def _serve(self, head: bool) -> None:
        file = self._file()
        if file is None:
            # Folders too: object stores behind HTTPS do not list them.
            self.send_bytes(404, b"not found\n", {"Content-Type": "text/plain"}, head=head)
            return
        size = file.stat().st_size
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        try:
            span = parse_range(self.headers.get("Range", ""), size)
        except Unsatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            self.send_bytes(416, b"", headers, head=head)
            return
        first, last = span if span is not None else (0, size - 1)
        with open(file, "rb") as stream:
            stream.seek(first)
            body = stream.read(last - first + 1) if size else b""
        if span is None:
            self.send_bytes(200, body, headers, head=head)
        else:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            self.send_bytes(206, body, headers, head=head)


class FolderServer(LoopbackHTTPServer):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(str(self.root))
        super().__init__(FolderHandler)


@contextmanager
def serve_folder(root: str | os.PathLike[str]) -> Iterator[str]:
    """Serve ``root`` read-only over HTTP on 127.0.0.1; its base URL, without a final ``/``."""
    server = FolderServer(root)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(name="http_folder")
def http_folder_fixture() -> Iterator[Callable[[str | os.PathLike[str]], str]]:
    """``http_folder(path)`` serves ``path`` (see :func:`serve_folder`) until the test ends; its
    base URL."""
    with ExitStack() as stack:
        yield lambda root: stack.enter_context(serve_folder(root))


# --- The fault-injecting proxy ---

# Fault kinds, in the order they take turns.
FAULT_KINDS = ("503", "slow", "drop", "cut")
# Headers that belong to one connection, not to the request or answer; not forwarded.
# (The proxy already answered any ``Expect: 100-continue`` of the client itself.)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
# What a proxy injects unless told otherwise: a few of each kind.
DEFAULT_FAULTS = {"503": 2, "slow": 2, "drop": 2, "cut": 2}
# Bounds on a chunked request body.
MAX_CHUNKS = 1_000_000
MAX_BODY = 1 << 30

S3_ERRORS = {
    0: ("SlowDown", "Please reduce your request rate."),
    1: ("ServiceUnavailable", "Service is unable to handle request."),
}


def read_request_body(handler: BaseHTTPRequestHandler) -> tuple[bytes, bool]:
    """The body of the request ``handler`` is answering, and whether it came chunked."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts: list[bytes] = []
        total = 0
        for _ in range(MAX_CHUNKS):
            size = int(handler.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Trailer fields, up to the empty line.
                for _ in range(1000):
                    if handler.rfile.readline(65536) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts), True
            total += size
            if total > MAX_BODY:
                raise ValueError("request body too large")
            parts.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
        raise ValueError("too many chunks")
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        raise ValueError("request body too large")
    return (handler.rfile.read(length) if length else b""), False


class ProxyHandler(QuietHandler):
    server: ProxyServer

    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _forward(self, body: bytes, chunked: bool) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        connection = http.client.HTTPConnection(*proxy.target, timeout=proxy.timeout)
        try:
            # The client's own Host header goes on, so what it signed (SigV4) is what arrives.
            connection.putrequest(
                self.command, self.path, skip_host=True, skip_accept_encoding=True
            )
            for name, value in self.headers.items():
                # A chunked body goes on chunked (re-framed), its header where it was.
                if name.lower() not in HOP_BY_HOP or (
                    chunked and name.lower() == "transfer-encoding"
                ):
                    connection.putheader(name, value)
            connection.endheaders(body if (body or chunked) else None, encode_chunked=chunked)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            connection.close()

    def _drop(self) -> None:
        """Close the connection without (another byte of) an answer."""
        self.close_connection = True
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError as err:
            if err.errno != errno.ENOTCONN:
                raise

    def _answer_503(self, number: int) -> None:
        code, message = S3_ERRORS[number % 2]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{self.path}</Resource><RequestId>fault-{number}</RequestId></Error>"
        ).encode()
        head = self.command == "HEAD"
        self.send_bytes(503, body, {"Content-Type": "application/xml"}, head=head)

    def _proxy(self) -> None:
        proxy = self.server.proxy
        body, chunked = read_request_body(self)
        number, fault = proxy.next_fault(self.command, self.path)
        if proxy.before is not None:
            proxy.before(self.command, self.path)
        if proxy.alter_body is not None and body:
            altered = proxy.alter_body(self.command, self.path, body)
            if len(altered) != len(body) and not chunked:
                self.headers.replace_header("Content-Length", str(len(altered)))
            body = altered
        if proxy.opaque_etags and self.headers.get("If-Match"):
            self.headers.replace_header("If-Match", proxy.real_etag(self.headers["If-Match"]))
        if fault == "drop":
            self._drop()
            return
        if fault == "503":
            self._answer_503(number)
            return
        if fault == "slow":
            time.sleep(proxy.slow_seconds)
        try:
            status, reason, headers, payload = self._forward(body, chunked)
        except OSError as err:
            if fault == "cut":
                proxy.give_back(number, fault)
            self.send_bytes(502, f"proxy: {err}\n".encode(), head=self.command == "HEAD")
            return
        bodiless = self.command == "HEAD" or status in (204, 304) or status < 200
        proxy.record(self.command, self.path, self.headers.get("Range"), len(payload))
        if fault == "cut" and (bodiless or len(payload) < 2):
            # Nothing to cut short: this request goes through, the fault waits for another.
            proxy.give_back(number, fault)
            fault = None
        self.send_response_only(status, reason)
        for name, value in headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or (lower == "content-length" and not bodiless):
                continue
            if proxy.strip_checksums and lower.startswith("x-amz-checksum-"):
                continue
            if proxy.opaque_etags and lower == "etag":
                value = proxy.opaque_etag(value)
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if bodiless:
            return
        if fault == "cut":
            self.wfile.write(payload[: len(payload) // 2])
            self._drop()
            return
        self.wfile.write(payload)


class ProxyServer(LoopbackHTTPServer):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(ProxyHandler)


@dataclass
class FaultProxy:
    """A reverse proxy on 127.0.0.1 in front of ``target_url`` (``http://127.0.0.1:PORT``)
    that answers some requests with a fault instead of the target's answer.

    ``faults`` is how many of each kind to inject, at most (``{}`` for none; by default
    :data:`DEFAULT_FAULTS`):

    - ``"503"``: 503 with an S3 error body (``SlowDown`` and ``ServiceUnavailable`` in turn);
    - ``"slow"``: the target's answer, ``slow_seconds`` late;
    - ``"drop"``: the connection closed without an answer (the request never reaches the target);
    - ``"cut"``: the target's answer, its body cut off half way (only answers with a body of
      two bytes or more; others pass and the fault waits for a later request).

    Every ``every``-th request gets a fault while any budget is left, the kinds taking turns, so
    a run sees each kind (a ``"cut"`` that had to pass goes to the very next request).
    Requests are forwarded unchanged (the client's Host header included, so a SigV4 signature
    stays valid) but for hop-by-hop headers; the answer likewise, but that ``strip_checksums``
    removes S3's ``x-amz-checksum-*`` headers from answers (a store that keeps no checksums)
    and ``opaque_etags`` gives each ETag of an answer as another value, not the MD5 of the
    body (as S3 does for an object encrypted with SSE-KMS), taken back in an ``If-Match``.
    ``before(method, path)``, when given, is called before each request is forwarded (to change
    the target's objects between two requests of a client); ``alter_body(method, path, body)``
    gives the request body to forward instead of ``body`` (a body damaged on its way, its
    headers, checksums included, as the client sent them).
    ``injected`` counts the faults of each kind, ``requests`` every request seen and ``log``
    has ``(number, method, path, fault or "")`` of each; ``answered`` has ``(method, path,
    Range header or None, bytes of the answer's body)`` of each request forwarded.
    """

    target_url: str
    faults: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_FAULTS))
    slow_seconds: float = 0.5
    every: int = 3
    timeout: float = SOCKET_TIMEOUT
    strip_checksums: bool = False
    opaque_etags: bool = False
    before: Callable[[str, str], None] | None = None
    alter_body: Callable[[str, str, bytes], bytes] | None = None
    injected: dict[str, int] = field(init=False)
    requests: int = field(init=False, default=0)
    log: list[tuple[int, str, str, str]] = field(init=False, default_factory=list)
    answered: list[tuple[str, str, str | None, int]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.target = loopback_address(self.target_url)
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if self.every < 1:
            raise ValueError("every must be 1 or more")
        self.injected = {kind: 0 for kind in self.faults}
        self._lock = threading.Lock()
        self._turn = 0
        # A fault was given back: the next request is due one, whatever ``every`` says.
        self._owed = False
        self._server: ProxyServer | None = None
        self._etags: dict[str, str] = {}

    @property
    def endpoint(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return self._server.url

    @property
    def handler_errors(self) -> int:
        return self._server.handler_errors if self._server is not None else 0

    def next_fault(self, method: str, path: str) -> tuple[int, str | None]:
        """The number of this request, and the fault to inject into it (or None)."""
        with self._lock:
            self.requests += 1
            number = self.requests
            fault = None
            if number % self.every == 0 or self._owed:
                self._owed = False
                for step in range(len(FAULT_KINDS)):
                    kind = FAULT_KINDS[(self._turn + step) % len(FAULT_KINDS)]
                    if self.injected.get(kind, 0) < self.faults.get(kind, 0):
                        self._turn = (self._turn + step + 1) % len(FAULT_KINDS)
                        self.injected[kind] += 1
                        fault = kind
                        break
            self.log.append((number, method, path, fault or ""))
            return number, fault

    def record(self, method: str, path: str, byte_range: str | None, nbytes: int) -> None:
        with self._lock:
            self.answered.append((method, path, byte_range, nbytes))

    def opaque_etag(self, etag: str) -> str:
        """Another ETag for ``etag``, as long, not the MD5 of the object's body."""
        opaque = '"' + hashlib.md5(b"opaque " + etag.encode()).hexdigest() + '"'
        with self._lock:
            self._etags[opaque] = etag
        return opaque

    def real_etag(self, etag: str) -> str:
        with self._lock:
            return self._etags.get(etag, etag)

    def give_back(self, number: int, kind: str) -> None:
        """The fault chosen for request ``number`` could not be injected: it stays in the
        budget."""
        with self._lock:
            self.injected[kind] -= 1
            self._owed = True
            for index in range(len(self.log) - 1, -1, -1):
                if self.log[index][0] == number:
                    self.log[index] = (*self.log[index][:3], "")
                    break

    @property
    def exhausted(self) -> bool:
        """Whether every fault of the budget was injected."""
        with self._lock:
            return all(self.injected[k] >= n for k, n in self.faults.items())

    def start(self) -> FaultProxy:
        self._server = ProxyServer(self)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FaultProxy:
        # The fixture hands out started proxies, which tests may still use in a ``with``.
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(name="fault_proxy")
def fault_proxy_fixture() -> Iterator[Callable[..., FaultProxy]]:
    """``fault_proxy(target_url, faults={...}, slow_seconds=..., every=...)``: a started
    :class:`FaultProxy`, stopped when the test ends."""
    with ExitStack() as stack:

        def start(target_url: str, **options: Any) -> FaultProxy:
            return stack.enter_context(FaultProxy(target_url, **options))

        yield start


# The fixtures under their own names as well, for ``from remote_servers import s3_server``.
s3_server = s3_server_fixture
s3_bucket = s3_bucket_fixture
http_folder = http_folder_fixture
fault_proxy = fault_proxy_fixture
