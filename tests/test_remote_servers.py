"""The test servers of ``remote_servers`` behave as the storage tests assume.

S3 (moto) through s3fs, a plain HTTP folder that does not list folders, and the fault proxy:
that it passes requests and answers through unchanged, injects what it is told to, spreads the
faults out, and what each fault does to s3fs (which retries by itself) and to fsspec's HTTP
(which mostly does not).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import fsspec
import pytest
from remote_servers import (  # noqa: F401
    DEFAULT_FAULTS,
    LOOPBACK,
    FaultProxy,
    LoopbackHTTPServer,
    QuietHandler,
    S3Server,
    fault_proxy_fixture,
    http_folder_fixture,
    parse_range,
    read_request_body,
    s3_bucket_fixture,
    s3_server_fixture,
    serve_folder,
)

from ngff_resave.storage.retries import RetryCount, is_transient, with_retries

FaultProxyFactory = Callable[..., FaultProxy]
HttpFolder = Callable[[str | os.PathLike[str]], str]


def port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None
    return port


def content(i: int) -> bytes:
    """Distinct bytes of distinct lengths for object ``i``."""
    return hashlib.sha256(str(i).encode()).digest() * (i + 1)


# --- S3 ---


def test_s3_round_trip(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    assert s3_server.endpoint.startswith(f"http://{LOOPBACK}:")
    bucket = s3_bucket.removeprefix("s3://")
    fs = s3_server.fs()
    assert fs.ls(bucket) == []
    fs.pipe_file(f"{bucket}/a/one.bin", b"\x00one")
    fs.pipe_file(f"{bucket}/two.txt", b"two")
    assert fs.cat_file(f"{bucket}/a/one.bin") == b"\x00one"
    assert sorted(fs.ls(bucket)) == [f"{bucket}/a", f"{bucket}/two.txt"]
    fs.get(f"{bucket}/two.txt", str(tmp_path / "two.txt"))
    assert (tmp_path / "two.txt").read_bytes() == b"two"
    # upload: a folder's files go below the URL, relative paths kept.
    local = tmp_path / "folder"
    (local / "sub").mkdir(parents=True)
    (local / "top.json").write_text("{}")
    (local / "sub" / "deep.bin").write_bytes(b"deep")
    keys = s3_server.upload(local, f"{s3_bucket}/up/")
    assert keys == [f"{s3_bucket}/up/sub/deep.bin", f"{s3_bucket}/up/top.json"]
    assert sorted(fs.find(f"{bucket}/up")) == [f"{bucket}/up/sub/deep.bin", f"{bucket}/up/top.json"]
    assert fs.cat_file(f"{bucket}/up/sub/deep.bin") == b"deep"
    # And a single file to a key.
    s3_server.upload(local / "top.json", f"{s3_bucket}/single.json")
    assert fs.cat_file(f"{bucket}/single.json") == b"{}"


def test_s3_buckets_are_made_and_removed(s3_server: S3Server, tmp_path: Path) -> None:
    fs = s3_server.fs()
    url = s3_server.make_bucket("made-and-removed")
    assert url == "s3://made-and-removed"
    (tmp_path / "x.bin").write_bytes(b"x")
    s3_server.upload(tmp_path, f"{url}/deep/folder")
    s3_server.remove_bucket("made-and-removed")
    assert "made-and-removed" not in fs.ls("")


def test_s3_session_uses_fake_credentials_only(s3_server: S3Server) -> None:
    import botocore.session

    assert os.environ["AWS_ACCESS_KEY_ID"] == s3_server.access_key
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == s3_server.secret
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert "AWS_PROFILE" not in os.environ
    assert not os.path.exists(os.environ["AWS_CONFIG_FILE"])
    assert not os.path.exists(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    assert len(s3_server.secret) > 30
    credentials = botocore.session.Session().get_credentials()
    assert credentials is not None
    assert credentials.method == "env"
    assert credentials.secret_key == s3_server.secret


def test_moto_does_not_verify_signatures(s3_server: S3Server, s3_bucket: str) -> None:
    # Why the proxy may sit in front of moto: a request signed for another port (or not at all)
    # is still served. Should moto start checking, the proxy tests would show it too. (moto
    # does look at the Host: "127.0.0.1:<any port>" is path style; a name is taken for a
    # virtual-hosted bucket.)
    bucket = s3_bucket.removeprefix("s3://")
    connection = http.client.HTTPConnection(LOOPBACK, port_of(s3_server.endpoint), timeout=10)
    try:
        connection.request(
            "PUT",
            f"/{bucket}/forged.bin",
            body=b"forged",
            headers={
                "Host": "127.0.0.1:1",
                "Authorization": (
                    "AWS4-HMAC-SHA256 Credential=NOTAKEY/20000101/us-east-1/s3/aws4_request, "
                    "SignedHeaders=host, Signature=" + "0" * 64
                ),
                "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                "x-amz-date": "20000101T000000Z",
            },
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert s3_server.fs().cat_file(f"{bucket}/forged.bin") == b"forged"


# --- HTTP folder ---


@pytest.fixture
def served(tmp_path: Path, http_folder: HttpFolder) -> str:
    root = tmp_path / "root"
    (root / "folder").mkdir(parents=True)
    (root / "folder" / "data.bin").write_bytes(bytes(range(10)))
    (root / "empty.bin").write_bytes(b"")
    (root / "with space.txt").write_text("spaced")
    (tmp_path / "secret.txt").write_text("outside the served folder")
    return http_folder(root)


def raw_request(
    base: str, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port_of(base), timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_http_folder_serves_files_not_folders(served: str) -> None:
    status, headers, body = raw_request(served, "GET", "/folder/data.bin")
    assert (status, body) == (200, bytes(range(10)))
    assert headers["Content-Length"] == "10"
    status, headers, body = raw_request(served, "HEAD", "/folder/data.bin")
    assert (status, headers["Content-Length"], body) == (200, "10", b"")
    assert raw_request(served, "GET", "/with%20space.txt")[2] == b"spaced"
    assert raw_request(served, "GET", "/empty.bin")[:3:2] == (200, b"")
    for folder in ["/", "/folder", "/folder/"]:
        assert raw_request(served, "GET", folder)[0] == 404
        assert raw_request(served, "HEAD", folder)[0] == 404
    for outside in ["/../secret.txt", "/%2e%2e/secret.txt", "/folder/../../secret.txt"]:
        assert raw_request(served, "GET", outside)[0] == 404
    assert raw_request(served, "GET", "/missing.bin")[0] == 404
    assert raw_request(served, "PUT", "/folder/data.bin")[0] == 405
    assert raw_request(served, "DELETE", "/folder/data.bin")[0] == 405
    assert raw_request(served, "GET", "/folder/data.bin")[2] == bytes(range(10))


def test_http_folder_byte_ranges(served: str) -> None:
    def ranged(spec: str) -> tuple[int, str | None, bytes]:
        status, headers, body = raw_request(served, "GET", "/folder/data.bin", {"Range": spec})
        return status, headers.get("Content-Range"), body

    assert ranged("bytes=2-5") == (206, "bytes 2-5/10", bytes([2, 3, 4, 5]))
    assert ranged("bytes=7-") == (206, "bytes 7-9/10", bytes([7, 8, 9]))
    assert ranged("bytes=8-100") == (206, "bytes 8-9/10", bytes([8, 9]))
    assert ranged("bytes=-3") == (206, "bytes 7-9/10", bytes([7, 8, 9]))
    assert ranged("bytes=10-") == (416, "bytes */10", b"")
    # Ignored ranges (several, or not bytes): the whole file.
    assert ranged("bytes=0-1,4-5") == (200, None, bytes(range(10)))
    assert ranged("lines=1-2") == (200, None, bytes(range(10)))
    assert parse_range("bytes=-3", 2) == (0, 1)
    assert parse_range("bytes=x-3", 10) is None


def test_http_folder_through_fsspec(served: str) -> None:
    fs = fsspec.filesystem("http")
    file = f"{served}/folder/data.bin"
    assert fs.cat_file(file) == bytes(range(10))
    assert fs.cat_file(file, start=3, end=6) == bytes([3, 4, 5])
    assert fs.cat_file(file, start=-2) == bytes([8, 9])
    assert fs.info(file)["size"] == 10
    assert fs.exists(file)
    assert not fs.exists(f"{served}/folder")
    assert not fs.exists(f"{served}/folder/")
    assert not fs.exists(f"{served}/missing.bin")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{served}/folder")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{served}/folder")


def test_serve_folder_stops_with_connections_open(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"f")
    with serve_folder(tmp_path) as base:
        # A keep-alive connection stays open across the stop.
        connection = http.client.HTTPConnection(LOOPBACK, port_of(base), timeout=10)
        connection.request("GET", "/f.bin")
        assert connection.getresponse().read() == b"f"
        started = time.monotonic()
    assert time.monotonic() - started < 3
    connection.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base}/f.bin", timeout=5)


# --- The proxy: pass-through ---


class RecordingHandler(QuietHandler):
    """Records each request as it arrives; answers with fixed headers and a body."""

    server: RecordingServer

    def do_GET(self) -> None:
        body, chunked = read_request_body(self)
        self.server.requests.append((self.command, self.path, self.headers.items(), body, chunked))
        answer = b"answer " + body[:16]
        headers = {"ETag": '"abc"', "x-amz-request-id": "R1", "Content-Type": "text/plain"}
        self.send_bytes(200, answer, headers, head=self.command == "HEAD")

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET


class RecordingServer(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, list[tuple[str, str]], bytes, bool]] = []
        super().__init__(RecordingHandler)


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def send(
    base: str, method: str, path: str, headers: dict[str, str], body: Any = None, chunked=False
) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port_of(base), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def test_proxy_passes_requests_and_answers_unchanged() -> None:
    signed = {
        "Host": "127.0.0.1:1",  # whatever the client signed for
        "Authorization": "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "ab" * 32,
        "x-amz-content-sha256": hashlib.sha256(b"payload \x00\xff").hexdigest(),
        "x-amz-date": "20260101T000000Z",
        "X-Amz-Meta-Twice": "one",
        "Content-Type": "application/octet-stream",
    }
    requests: list[tuple[str, str, dict[str, str], Any, bool]] = [
        ("PUT", "/bucket/a%20key/x.bin?x-id=PutObject", signed, b"payload \x00\xff", False),
        ("PUT", "/bucket/chunked", signed, iter([b"part one, ", b"", b"part two"]), True),
        ("GET", "/bucket?list-type=2&prefix=a%2F&delimiter=%2F", signed, None, False),
        ("HEAD", "/bucket/a%20key/x.bin", signed, None, False),
        ("DELETE", "/bucket/a%20key/x.bin", signed, None, False),
        ("POST", "/bucket?delete", signed, b"<Delete/>", False),
    ]
    with recording_server() as upstream, FaultProxy(upstream.url, faults={}) as proxy:
        for method, path, headers, body, chunked in requests:
            if chunked:
                headers = {**headers, "Transfer-Encoding": "chunked"}
                parts = list(body)
                direct = send(upstream.url, method, path, headers, iter(parts), chunked)
                proxied = send(proxy.endpoint, method, path, headers, iter(parts), chunked)
            else:
                direct = send(upstream.url, method, path, headers, body)
                proxied = send(proxy.endpoint, method, path, headers, body)
            # The answer: the same status, headers (but the date) and body.
            assert proxied[0] == direct[0] == 200
            assert [h for h in proxied[1] if h[0] != "Date"] == [
                h for h in direct[1] if h[0] != "Date"
            ]
            assert proxied[2] == direct[2]
        assert proxy.requests == len(requests)
        assert proxy.injected == {}
    # The request: what reached the target through the proxy is what reached it directly,
    # header by header (Host and signature included), byte by byte.
    recorded = upstream.requests
    assert len(recorded) == 2 * len(requests)
    for direct_request, proxied_request in zip(recorded[0::2], recorded[1::2], strict=True):
        assert proxied_request == direct_request
    assert recorded[0][3] == b"payload \x00\xff"
    assert recorded[2][3:] == (b"part one, part two", True)
    assert ("Host", "127.0.0.1:1") in recorded[1][2]


def test_proxy_refuses_targets_off_loopback() -> None:
    for target in ["http://192.0.2.1:80", "https://127.0.0.1:1", "http://127.0.0.1", "ftp://x"]:
        with pytest.raises(ValueError, match="only http://127.0.0.1"):
            FaultProxy(target)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultProxy("http://127.0.0.1:1", faults={"fire": 1})


# --- The proxy: faults ---


def outcome(base: str, path: str) -> tuple[str, float]:
    """What one plain GET through the proxy met (ok, 503, drop or cut), and in how long."""
    connection = http.client.HTTPConnection(LOOPBACK, port_of(base), timeout=10)
    started = time.monotonic()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status == 503:
            assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>')
            return "503", time.monotonic() - started
        assert response.status == 200
        return "ok", time.monotonic() - started
    except http.client.RemoteDisconnected:
        return "drop", time.monotonic() - started
    except http.client.IncompleteRead:
        return "cut", time.monotonic() - started
    finally:
        connection.close()


def met(faults: list[str]) -> list[str]:
    """What a client meets of these faults: a slow answer comes whole, merely late."""
    return [fault if fault in ("503", "drop", "cut") else "ok" for fault in faults]


def test_faults_are_bounded_and_spread_out(served: str, fault_proxy: FaultProxyFactory) -> None:
    proxy = fault_proxy(served, faults={k: 2 for k in DEFAULT_FAULTS}, every=2, slow_seconds=0.3)
    results = [outcome(proxy.endpoint, "/folder/data.bin") for _ in range(24)]
    expected = ["", "503", "", "slow", "", "drop", "", "cut"] * 2 + [""] * 8
    assert [entry[3] for entry in proxy.log] == expected
    assert [kind for kind, _ in results] == met(expected)
    assert [s >= 0.3 for (_, s), f in zip(results, expected, strict=True) if f == "slow"] == [
        True,
        True,
    ]
    assert proxy.injected == {"503": 2, "slow": 2, "drop": 2, "cut": 2}
    assert proxy.requests == 24 and proxy.exhausted


def test_cut_waits_for_an_answer_with_a_body(served: str, fault_proxy: FaultProxyFactory) -> None:
    proxy = fault_proxy(served, faults={"cut": 1}, every=5)
    for _ in range(4):
        assert raw_request(proxy.endpoint, "GET", "/folder/data.bin")[0] == 200
    # The 5th request is a HEAD: nothing to cut, so it passes and the next one is cut.
    assert raw_request(proxy.endpoint, "HEAD", "/folder/data.bin")[0] == 200
    assert outcome(proxy.endpoint, "/folder/data.bin")[0] == "cut"
    assert outcome(proxy.endpoint, "/folder/data.bin")[0] == "ok"
    assert [e[3] for e in proxy.log] == ["", "", "", "", "", "cut", ""]
    assert proxy.injected == {"cut": 1}


def test_fault_proxy_fixture_defaults(served: str, fault_proxy: FaultProxyFactory) -> None:
    # Started by the fixture, and still usable in a ``with``.
    with fault_proxy(served, slow_seconds=0.1) as proxy:
        assert proxy.faults == DEFAULT_FAULTS and proxy.every == 3
        results = [outcome(proxy.endpoint, "/folder/data.bin") for _ in range(30)]
    faults = [entry[3] for entry in proxy.log]
    assert sorted(f for f in faults if f) == sorted(
        k for k, n in DEFAULT_FAULTS.items() for _ in range(n)
    )
    assert [kind for kind, _ in results] == met(faults)
    assert proxy.exhausted


def test_s3fs_survives_every_fault_kind(
    s3_server: S3Server, s3_bucket: str, fault_proxy: FaultProxyFactory
) -> None:
    import s3fs

    budget = {"503": 4, "slow": 4, "drop": 4, "cut": 4}
    proxy = fault_proxy(s3_server.endpoint, faults=budget, every=3, slow_seconds=0.3)
    fs = s3fs.S3FileSystem(
        endpoint_url=proxy.endpoint,
        skip_instance_cache=True,
        config_kwargs={"connect_timeout": 5, "read_timeout": 10},
    )
    bucket = s3_bucket.removeprefix("s3://")
    paths = [f"{bucket}/objects/{i:02d}.bin" for i in range(50)]
    # Put one by one, then all at once; read one by one, then all at once.
    for i, path in enumerate(paths[:25]):
        fs.pipe_file(path, content(i))
    fs.pipe({path: content(25 + i) for i, path in enumerate(paths[25:])})
    for i, path in enumerate(paths):
        assert fs.cat_file(path) == content(i), path
    assert fs.cat(paths) == {path: content(i) for i, path in enumerate(paths)}
    assert sorted(fs.find(f"{bucket}/objects")) == paths
    # Every fault was injected, and none got through to the client.
    assert proxy.injected == budget, proxy.log
    assert proxy.requests >= 100 + sum(budget.values())
    # What arrived on the server is intact (read without the proxy).
    direct = s3_server.fs()
    direct.invalidate_cache()
    assert direct.cat(paths) == {path: content(i) for i, path in enumerate(paths)}


# What each fault raises from fsspec's HTTP ``cat_file`` (it retries nothing itself, but aiohttp
# sends an idempotent request once more after one dropped connection: two drops are needed).
HTTP_FAULTS = {
    "503": ({"503": 1}, "ClientResponseError"),
    "drop": ({"drop": 2}, "ServerDisconnectedError"),
    "cut": ({"cut": 1}, "ClientPayloadError"),
    # Slower than the client's read timeout.
    "slow": ({"slow": 1}, "FSTimeoutError"),
}


def http_client(kind: str) -> fsspec.AbstractFileSystem:
    if kind == "slow":
        timeout = aiohttp.ClientTimeout(total=30, sock_read=0.2)
        return fsspec.filesystem("http", client_kwargs={"timeout": timeout})
    return fsspec.filesystem("http")


@pytest.mark.parametrize("kind", sorted(HTTP_FAULTS))
def test_fsspec_http_faults_raise_transient_errors(
    kind: str, served: str, fault_proxy: FaultProxyFactory
) -> None:
    faults, error_name = HTTP_FAULTS[kind]
    fs = http_client(kind)
    proxy = fault_proxy(served, faults=faults, every=1, slow_seconds=0.6)
    url = f"{proxy.endpoint}/folder/data.bin"
    with pytest.raises(Exception) as info:
        fs.cat_file(url)
    assert type(info.value).__name__ == error_name, repr(info.value)
    assert is_transient(info.value), repr(info.value)
    assert proxy.exhausted
    if kind == "503":
        assert getattr(info.value, "status", None) == 503
    # Once the faults are spent, the same request succeeds.
    assert fs.cat_file(url) == bytes(range(10))
    # And the storage layer's retries get through the same faults by themselves.
    again = fault_proxy(served, faults=faults, every=1, slow_seconds=0.6)
    count = RetryCount()
    url = f"{again.endpoint}/folder/data.bin"
    assert with_retries(lambda: fs.cat_file(url), 3, url, count) == bytes(range(10))
    assert count.retries == 1


def test_fsspec_http_survives_one_drop_and_a_short_delay(
    served: str, fault_proxy: FaultProxyFactory
) -> None:
    fs = fsspec.filesystem("http")
    proxy = fault_proxy(served, faults={"drop": 1, "slow": 1}, every=1, slow_seconds=0.3)
    url = f"{proxy.endpoint}/folder/data.bin"
    # The slow answer, below the read timeout, is merely late.
    started = time.monotonic()
    assert fs.cat_file(url) == bytes(range(10))
    assert time.monotonic() - started >= 0.3
    # The drop: aiohttp sends the GET again by itself.
    assert fs.cat_file(url) == bytes(range(10))
    assert [e[3] for e in proxy.log] == ["slow", "drop", ""]


@pytest.mark.parametrize("faults", [{"503": 1}, {"drop": 2}])
def test_fsspec_http_exists_hides_faults(
    faults: dict[str, int], served: str, fault_proxy: FaultProxyFactory
) -> None:
    # fsspec's HTTP ``exists`` answers False for a 503 or a failed connection instead of
    # raising: a caller cannot tell (nor retry) a fault from a missing file.
    fs = fsspec.filesystem("http")
    proxy = fault_proxy(served, faults=faults, every=1)
    url = f"{proxy.endpoint}/folder/data.bin"
    assert fs.exists(url) is False
    assert proxy.exhausted
    assert fs.exists(url) is True
