"""The storage layer: one suite every backend must pass, so backends stay interchangeable.

:class:`StorageTests` holds the tests; each backend's subclass only provides a ``location``
fixture (a fresh, empty root) and says what it expects of the backend (its class, whether
tensorstore reaches it, whether its puts are whole). A later ``TestS3`` is one more subclass.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import pytest
from remote_servers import S3Server, s3_bucket_fixture, s3_server_fixture  # noqa: F401

from ngff_resave.storage import (
    TEMPORARY_NAME,
    FsspecLocation,
    LocalLocation,
    Location,
    StorageError,
    StoredChecksum,
    StoredOtherwise,
    open_location,
    read_local_record,
    temporary_name,
    write_local_bytes,
    write_local_json,
)

# What ``write_json({"a": 1, "b": [1, 2]})`` must write, byte for byte.
JSON_BYTES = b'{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}\n'


class StorageTests:
    """Tests every backend must pass. Not collected itself (no ``Test`` prefix)."""

    # Set by each backend's subclass.
    backend: type[Location]
    # Whether ``tensorstore_kvstore`` gives a spec (rather than None).
    tensorstore: bool
    # Whether puts are whole objects (then there are no temporary files to clear).
    atomic_put: bool
    # Whether keys are flat names (S3), not paths: then a file does not stop a write below it.
    flat_keys: bool = False
    # Whether the store tells an object's checksum without sending it (S3).
    server_checksums: bool = False

    @pytest.fixture
    def location(self) -> Iterator[Location]:
        raise NotImplementedError("each backend's subclass provides a fresh, empty root")

    def test_backend_and_capabilities(self, location: Location) -> None:
        assert type(location) is self.backend
        assert location.capabilities.atomic_put is self.atomic_put
        assert location.capabilities.can_list is True
        assert location.can_list is True

    def test_child(self, location: Location) -> None:
        assert location.child("") == location.url
        assert location.child("a/b.json") == location.url + "/a/b.json"

    def test_write_read_round_trip(self, location: Location) -> None:
        location.write_bytes("a/b/data.bin", b"\x00\x01first")
        assert location.read_bytes("a/b/data.bin") == b"\x00\x01first"
        location.write_bytes("a/b/data.bin", b"second")
        assert location.read_bytes("a/b/data.bin") == b"second"

    def test_write_many_writes_each_and_only_those(self, location: Location) -> None:
        items = [(f"g{i % 7}/n{i}/zarr.json", f'{{"n": {i}}}'.encode()) for i in range(40)]
        location.write_bytes("g0/n0/zarr.json", b"old")
        location.write_many(items)
        assert location.read_many([path for path, _ in items]) == [data for _, data in items]
        assert sorted(location.list_files()) == sorted(path for path, _ in items)
        assert location.write_concurrency >= 1

    def test_read_missing(self, location: Location) -> None:
        assert location.read_bytes("missing.bin") is None
        assert location.read_bytes("missing/folder/file.bin") is None
        location.write_bytes("file.bin", b"x")
        # Below a file is missing too, not an error.
        assert location.read_bytes("file.bin/inner") is None

    def test_write_parts_joins_and_leaves_no_temporary(self, location: Location) -> None:
        location.write_parts("folder/joined.bin", iter([b"ab", b"", b"cd", b"e"]))
        assert location.read_bytes("folder/joined.bin") == b"abcde"
        assert location.list_files() == ["folder/joined.bin"]

    def test_write_parts_failing_part_leaves_nothing(self, location: Location) -> None:
        def parts() -> Iterator[bytes]:
            yield b"half"
            raise ValueError("source failed")

        with pytest.raises(ValueError, match="source failed"):
            location.write_parts("folder/broken.bin", parts())
        assert location.read_bytes("folder/broken.bin") is None
        assert location.list_files() == []

    def test_write_error_names_address(self, location: Location) -> None:
        location.write_bytes("file.bin", b"x")
        if self.flat_keys:
            # "file.bin/in" is a key of its own beside "file.bin": writing it cannot fail here.
            location.write_bytes("file.bin/in", b"y")
            assert location.read_bytes("file.bin") == b"x"
            assert location.read_bytes("file.bin/in") == b"y"
            return
        with pytest.raises(
            StorageError, match=re.escape(f"cannot write {location.child('file.bin/in')}")
        ):
            location.write_bytes("file.bin/in", b"y")

    def test_read_range(self, location: Location) -> None:
        location.write_bytes("a/data.bin", b"0123456789")
        assert location.read_range("a/data.bin", 2, 5) == b"234"
        assert location.read_range("a/data.bin", 7, 10) == b"789"
        with pytest.raises(FileNotFoundError):
            location.read_range("a/missing.bin", 0, 1)

    def test_stored_checksum(self, location: Location) -> None:
        data = b"proven bytes"
        written = location.write_proven("a/shard", [data[:5], data[5:]])
        stored = location.stored_checksum("a/shard")
        if self.server_checksums:
            # The server's ETag is the MD5 of those bytes: they need not be read back.
            assert written == data
            assert stored == StoredChecksum(len(data), google_crc32c.value(data), stored.version)
            assert stored.version
        else:
            assert written is None and stored is None
        assert location.read_bytes("a/shard") == data

    def test_read_json(self, location: Location) -> None:
        location.write_bytes("object.json", b'{"a": [1, 2]}')
        assert location.read_json("object.json") == {"a": [1, 2]}
        assert location.read_json("missing.json") is None

    def test_read_json_not_json(self, location: Location) -> None:
        location.write_bytes("broken.json", b"{not json")
        address = location.child("broken.json")
        with pytest.raises(StorageError, match="^" + re.escape(f"{address} is not valid JSON")):
            location.read_json("broken.json")

    def test_read_json_not_object(self, location: Location) -> None:
        location.write_bytes("list.json", b"[1, 2]")
        with pytest.raises(StorageError, match="holds JSON but not an object"):
            location.read_json("list.json")

    def test_write_json_exact_bytes(self, location: Location) -> None:
        location.write_json("out/value.json", {"a": 1, "b": [1, 2]})
        assert location.read_bytes("out/value.json") == JSON_BYTES

    def test_delete(self, location: Location) -> None:
        location.write_bytes("keep.bin", b"k")
        location.write_bytes("gone.bin", b"g")
        location.delete("gone.bin")
        assert location.read_bytes("gone.bin") is None
        assert location.read_bytes("keep.bin") == b"k"
        # Missing is fine.
        location.delete("gone.bin")
        location.delete("never/was.bin")

    def test_exists(self, location: Location) -> None:
        assert not location.exists("folder")
        location.write_bytes("folder/file.bin", b"x")
        assert location.exists()
        assert location.exists("folder")
        assert location.exists("folder/file.bin")
        assert not location.exists("folder/other.bin")

    def test_list_dir_and_entries(self, location: Location) -> None:
        for path in ["d/x.bin", "b.txt", "a/y/z.bin", "c.json"]:
            location.write_bytes(path, b".")
        assert location.list_dir() == ["a", "b.txt", "c.json", "d"]
        assert location.list_entries() == [
            ("a", True),
            ("b.txt", False),
            ("c.json", False),
            ("d", True),
        ]
        assert location.list_dir("a") == ["y"]
        assert location.list_entries("a/y") == [("z.bin", False)]

    def test_list_missing_or_file(self, location: Location) -> None:
        location.write_bytes("file.bin", b".")
        for path in ["missing", "file.bin"]:
            assert location.list_dir(path) == []
            assert location.list_entries(path) == []

    def test_list_files(self, location: Location) -> None:
        for path in ["z.bin", "a/y/z.bin", "a/b.bin", "a/y/a.bin"]:
            location.write_bytes(path, b".")
        assert location.list_files() == ["a/b.bin", "a/y/a.bin", "a/y/z.bin", "z.bin"]
        assert location.list_files("a") == ["b.bin", "y/a.bin", "y/z.bin"]
        assert location.list_files("a/y") == ["a.bin", "z.bin"]
        assert location.list_files("missing") == []
        assert location.list_files("z.bin") == []

    def test_file_sizes(self, location: Location) -> None:
        location.write_bytes("a/one.bin", b"1")
        location.write_parts("a/b/three.bin", [b"12", b"3"])
        assert location.file_sizes() == {"a/one.bin": 1, "a/b/three.bin": 3}
        assert location.file_sizes("a/b") == {"three.bin": 3}
        assert location.file_sizes("missing") == {}

    def test_remove_tree(self, location: Location) -> None:
        location.write_bytes("a/b/c.bin", b".")
        location.write_bytes("d.bin", b".")
        location.remove_tree()
        assert not location.exists()
        assert location.list_files() == []
        # Removing what is not there is fine.
        location.remove_tree()

    def test_zarr_store_round_trip(self, location: Location) -> None:
        import zarr

        values = np.arange(24, dtype="<u2").reshape(4, 6)
        array = zarr.create_array(
            location.zarr_store("img", read_only=False),
            shape=values.shape,
            chunks=(2, 3),
            dtype=values.dtype,
            compressors=None,
            zarr_format=3,
        )
        array[:] = values
        # Uncompressed chunks: the second chunk of the first row is these bytes.
        assert location.read_bytes("img/c/0/1") == values[0:2, 3:6].tobytes()
        assert location.read_json("img/zarr.json") is not None
        read = zarr.open_array(location.zarr_store("img"), mode="r")
        np.testing.assert_array_equal(read[:], values)
        # The store opened read-only refuses writes.
        with pytest.raises(ValueError):
            zarr.open_array(location.zarr_store("img"), mode="r")[:] = 0

    def test_tensorstore_kvstore(self, location: Location) -> None:
        kvstore = location.tensorstore_kvstore("img")
        assert (kvstore is not None) is self.tensorstore
        if kvstore is None:
            return
        assert kvstore["path"].endswith("/")
        import tensorstore as ts
        import zarr

        values = np.arange(24, dtype="<u2").reshape(4, 6)
        spec: dict[str, Any] = {
            "driver": "zarr3",
            "kvstore": kvstore,
            "metadata": {
                "shape": list(values.shape),
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 3]}},
                "data_type": "uint16",
            },
            "create": True,
        }
        ts.open(spec).result()[...].write(values).result()
        read = zarr.open_array(location.zarr_store("img"), mode="r")
        np.testing.assert_array_equal(read[:], values)

    def test_clear_interrupted_writes(self, location: Location) -> None:
        leftover = f"a/b/{temporary_name('c.bin')}"
        others = ["a/b/c.bin", "a/.c.bin.tmp", "a/c.bin.0123456789abcdef0123456789abcdef.tmp"]
        for path in [leftover, *others]:
            location.write_bytes(path, b".")
        removed = location.clear_interrupted_writes()
        if self.atomic_put:
            # Whole puts leave nothing behind, so nothing is taken for a leftover.
            assert removed == 0
            assert location.list_files() == sorted([leftover, *others])
        else:
            assert removed == 1
            assert location.list_files() == sorted(others)
        assert location.clear_interrupted_writes() == 0


class TestLocal(StorageTests):
    backend = LocalLocation
    tensorstore = True
    atomic_put = False

    @pytest.fixture
    def location(self, tmp_path: Path) -> Iterator[Location]:
        yield open_location(str(tmp_path / "root"))

    def test_local_path(self, location: Location) -> None:
        assert location.local_path == location.url
        assert os.path.isabs(location.url)

    def test_tensorstore_kvstore_spec(self, location: Location) -> None:
        assert location.tensorstore_kvstore() == {"driver": "file", "path": location.url + "/"}
        assert location.tensorstore_kvstore("a/b") == {
            "driver": "file",
            "path": location.url + "/a/b/",
        }

    def test_read_error_names_address(self, location: Location) -> None:
        location.write_bytes("folder/file.bin", b".")
        # Reading a folder is an error that is not "missing".
        with pytest.raises(
            StorageError, match=re.escape(f"cannot read {location.child('folder')}")
        ):
            location.read_bytes("folder")


class TestMemory(StorageTests):
    backend = FsspecLocation
    tensorstore = False
    atomic_put = True

    @pytest.fixture
    def location(self) -> Iterator[Location]:
        import fsspec

        # The memory file system is one per process: a unique root keeps tests apart.
        name = f"storage-tests-{uuid.uuid4().hex}"
        yield open_location(f"memory://{name}")
        fs = fsspec.filesystem("memory")
        if fs.exists(f"/{name}"):
            fs.rm(f"/{name}", recursive=True)

    def test_local_path(self, location: Location) -> None:
        assert location.local_path is None


def test_location_is_abstract() -> None:
    with pytest.raises(TypeError):
        Location("/x")  # type: ignore[abstract]


def test_open_location_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    location = open_location(str(tmp_path / "data.zarr") + "/")
    assert isinstance(location, LocalLocation)
    assert location.url == str(tmp_path / "data.zarr")
    assert location.local_path == str(tmp_path / "data.zarr")
    monkeypatch.chdir(tmp_path)
    assert open_location("rel/data.zarr").url == str(tmp_path / "rel/data.zarr")


def test_open_location_file_url() -> None:
    location = open_location("file:///x/data.zarr")
    assert isinstance(location, LocalLocation)
    assert location.url == "/x/data.zarr"


def test_open_location_memory() -> None:
    location = open_location("memory://bucket/data.zarr/", {"skip_instance_cache": True})
    assert isinstance(location, FsspecLocation)
    assert location.url == "memory://bucket/data.zarr"
    assert location.storage_options == {"skip_instance_cache": True}
    assert location.can_list
    assert location.local_path is None
    # Storage options take no part in equality, so locations can key dictionaries.
    assert location == open_location("memory://bucket/data.zarr")
    assert hash(location) == hash(open_location("memory://bucket/data.zarr"))
    assert location != open_location("/bucket/data.zarr")


def test_open_location_https_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    location = open_location("https://example.invalid/data.zarr")
    assert isinstance(location, FsspecLocation)
    assert location.can_list is False
    assert location.capabilities.atomic_put is True
    assert location.local_path is None
    assert location.tensorstore_kvstore() is None
    assert location.child("zarr.json") == "https://example.invalid/data.zarr/zarr.json"


def test_temporary_name_pattern() -> None:
    name = temporary_name("shard.bin")
    assert name.startswith(".shard.bin.") and name.endswith(".tmp")
    assert TEMPORARY_NAME.match(name)
    assert not TEMPORARY_NAME.match("shard.bin")
    assert not TEMPORARY_NAME.match(".shard.bin.tmp")


def test_import_loads_neither_fsspec_nor_zarr() -> None:
    # Convert jobs import the storage layer; they must not pay for fsspec and zarr up front.
    code = "import sys, ngff_resave.storage; print(sorted({'fsspec', 'zarr'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_local_records(tmp_path: Path) -> None:
    record = tmp_path / "records" / "job.json"
    write_local_json(record, {"a": 1, "b": [1, 2]})
    assert record.read_bytes() == JSON_BYTES
    assert os.listdir(record.parent) == ["job.json"]
    assert read_local_record(record) == {"a": 1, "b": [1, 2]}
    assert read_local_record(tmp_path / "missing.json") is None
    (tmp_path / "list.json").write_text(json.dumps([1]))
    assert read_local_record(tmp_path / "list.json") is None
    (tmp_path / "broken.json").write_text("{")
    assert read_local_record(tmp_path / "broken.json") is None


def test_write_local_bytes_only_if_changed(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    assert write_local_bytes(path, b"one") is True
    os.utime(path, (1_000_000, 1_000_000))
    assert write_local_bytes(path, b"one", only_if_changed=True) is False
    assert path.stat().st_mtime == 1_000_000
    assert write_local_bytes(path, b"two", only_if_changed=True) is True
    assert path.read_bytes() == b"two"
    assert write_local_bytes(path, b"two") is True


class TestS3(StorageTests):
    """S3 (moto on 127.0.0.1, see ``remote_servers``), through s3fs as users reach it."""

    backend = FsspecLocation
    tensorstore = False
    atomic_put = True
    flat_keys = True
    server_checksums = True

    @pytest.fixture
    def location(self, s3_server: S3Server, s3_bucket: str) -> Iterator[Location]:
        yield open_location(f"{s3_bucket}/root", s3_server.storage_options)

    def test_a_read_is_one_request(self, location: Location, monkeypatch) -> None:
        """s3fs asks an object's size (a HEAD) before reading it whole, unless it listed the
        folder itself; a file here costs one GET."""
        location.write_bytes("a/data.bin", b"data")
        fs, _ = location._fs("")  # type: ignore[attr-defined]
        fs.invalidate_cache()
        calls: list[str] = []
        call = fs._call_s3

        async def counted(method, *args, **kwargs):
            calls.append(method)
            return await call(method, *args, **kwargs)

        monkeypatch.setattr(fs, "_call_s3", counted)
        assert location.read_bytes("a/data.bin") == b"data"
        assert location.read_bytes("a/missing.bin") is None
        assert calls == ["get_object", "get_object"]

    def test_a_range_of_another_version_is_refused(
        self, location: Location, s3_server: S3Server
    ) -> None:
        location.write_proven("a/shard", [b"first bytes"])
        stored = location.stored_checksum("a/shard")
        assert stored is not None
        assert location.read_range("a/shard", 0, 5, stored.version) == b"first"
        # Replaced on the server: a range of the version asked for is no longer there.
        s3_server.fs().pipe_file(location.url.removeprefix("s3://") + "/a/shard", b"other bytes")
        with pytest.raises(StoredOtherwise, match="is no longer the object of ETag"):
            location.read_range("a/shard", 0, 5, stored.version)
        assert location.read_range("a/shard", 0, 5) == b"other"
        replaced = location.stored_checksum("a/shard")
        # A client's default checksum is CRC32, not CRC32C: no CRC32C kept with it.
        assert replaced is not None and replaced.crc32c is None and replaced.size == 11
        with pytest.raises(FileNotFoundError):
            location.stored_checksum("a/missing")

    def test_location_reaches_the_test_server(
        self, location: Location, s3_server: S3Server
    ) -> None:
        assert location.url.startswith("s3://test-") and location.url.endswith("/root")
        assert location.local_path is None
        location.write_bytes("a/b.bin", b"on the server")
        # The object is where a plain s3fs client of the same server finds it.
        assert s3_server.fs().cat_file(location.url.removeprefix("s3://") + "/a/b.bin") == (
            b"on the server"
        )

    def test_write_error_names_address_missing_bucket(self, s3_server: S3Server) -> None:
        # On S3 a write fails where the bucket is missing (flat keys never clash).
        location = open_location(
            "s3://missing-bucket-of-storage-tests/root", {**s3_server.storage_options, "retries": 1}
        )
        with pytest.raises(
            StorageError, match=re.escape(f"cannot write {location.child('a.bin')}")
        ):
            location.write_bytes("a.bin", b"x")
