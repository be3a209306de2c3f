"""Remote datasets through real servers on 127.0.0.1: moto's S3 server, an HTTP server that does
not list folders, and a fault-injecting proxy in front of the S3 server (see remote_servers)."""

import base64
import functools
import http.server
import json
import re
import threading
from pathlib import Path

import google_crc32c
import numpy as np
import pandas as pd
import pytest
import zarr
from conftest import settings_for, snakemake
from remote_servers import (  # noqa: F401 - fixtures
    fault_proxy_fixture,
    http_folder_fixture,
    s3_bucket_fixture,
    s3_server_fixture,
)

from ngff_resave.arrays.convert import ConvertError, run_convert_job
from ngff_resave.checks import pixels
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.model.plan import SheetEntry
from ngff_resave.ome.metadata import write_metadata
from ngff_resave.records import outcomes
from ngff_resave.records.ownership import Run
from ngff_resave.sheet.plan import plan_row
from ngff_resave.steps.pack import convert_dataset, convert_jobs, plan_and_record, run_dataset
from ngff_resave.storage import open_location, write_local_bytes

IMAGE, PLATE, LAYOUT = "image-with-labels", "plate", "bioformats2raw"


def s3_options(endpoint: str, **extra) -> dict:
    return {"endpoint_url": endpoint, **extra}


def arrays_of(root: Path) -> list[str]:
    """The array folders of a local 0.4 dataset, relative to it."""
    return sorted(str(p.parent.relative_to(root)) for p in root.rglob(".zarray"))


def assert_same_pixels(source: Path, output: str, options: dict | None = None) -> None:
    """Every array of the output, read by zarr-python through fsspec, equals the local input."""
    location = open_location(output, options or {})
    for path in arrays_of(source):
        expected = zarr.open_array(str(source / path), mode="r", zarr_format=2)[...]
        got = zarr.open_array(location.zarr_store(path), mode="r", zarr_format=3)[...]
        np.testing.assert_array_equal(got, expected, err_msg=path)


@pytest.mark.workflow
def test_workflow_reads_s3_and_https_and_writes_s3(
    examples, tmp_path, s3_server, s3_bucket, http_folder
):
    inputs, outputs = f"{s3_bucket}/inputs", f"{s3_bucket}/outputs"
    s3_server.upload(examples[IMAGE], f"{inputs}/{IMAGE}.ome.zarr")
    s3_server.upload(examples[PLATE], f"{inputs}/{PLATE}.ome.zarr")
    base_url = http_folder(examples[LAYOUT].parent)
    rows = [
        ("s3-to-local", f"{inputs}/{IMAGE}.ome.zarr", "", "s3", ""),
        ("local-to-s3", str(examples[PLATE]), f"{outputs}/plate.ome.zarr", "", "s3"),
        ("s3-to-s3", f"{inputs}/{PLATE}.ome.zarr", f"{outputs}/plate2.ome.zarr", "s3", "s3"),
        ("https-to-local", f"{base_url}/{examples[LAYOUT].name}", "", "", ""),
    ]
    sheet = "dataset\tinput\toutput\tinput_storage\toutput_storage\tlicense\n"
    sheet += "".join("\t".join([*row, "CC-BY-4.0"]) + "\n" for row in rows)
    write_local_bytes(tmp_path / "samples.tsv", sheet.encode())
    config = (
        "samples: samples.tsv\n"
        f"storage:\n  s3: {{endpoint: '{s3_server.endpoint}', concurrency: 8}}\n"
        "catalog:\n  url_prefix: https://data.example.org/conversions\n"
        # the two plates get jobs of their own (convert, metadata, validate)
        "packs:\n  target_bytes: 100000\n"
    )
    write_local_bytes(tmp_path / "config.yaml", config.encode())
    run = snakemake(tmp_path)
    assert "4 of 4 datasets converted and valid; 0 failed." in run.stderr, run.stderr[-3000:]
    catalog = pd.read_csv(tmp_path / "results" / "catalog.csv")
    assert catalog["valid"].all() and (catalog["validated"] == "full").all()
    assert (
        catalog["url"]
        == [
            f"https://data.example.org/conversions/{name}"
            for name in (
                "s3-to-local.ome.zarr",
                "plate.ome.zarr",
                "plate2.ome.zarr",
                "https-to-local.ome.zarr",
            )
        ]
    ).all()
    options = s3_options(s3_server.endpoint)
    assert_same_pixels(examples[IMAGE], str(tmp_path / "results/ome-zarr/s3-to-local.ome.zarr"))
    assert_same_pixels(examples[PLATE], f"{outputs}/plate.ome.zarr", options)
    assert_same_pixels(examples[PLATE], f"{outputs}/plate2.ome.zarr", options)
    assert_same_pixels(examples[LAYOUT], str(tmp_path / "results/ome-zarr/https-to-local.ome.zarr"))
    # The HTTPS input could not be listed: its inventory is what its metadata names.
    plan = json.loads((tmp_path / "results/https-to-local/plan.json").read_text())
    assert plan["listed"] is False
    # Secrets appear nowhere: not in a record, log, plan or catalog, nor in any output object.
    fs = s3_server.fs()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not [p for p in written if s3_server.secret.encode() in p.read_bytes()]
    objects = fs.find(outputs)
    assert objects and not [k for k in objects if s3_server.secret.encode() in fs.cat_file(k)]
    # A second run has nothing to do.
    again = snakemake(tmp_path, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_killed_remote_job_leaves_nothing_a_rerun_takes_as_done(
    examples, tmp_path, s3_server, s3_bucket
):
    options = s3_options(s3_server.endpoint)
    output = f"{s3_bucket}/out/plate.ome.zarr"
    s3_server.upload(examples[PLATE], f"{s3_bucket}/in/plate.ome.zarr")
    settings = settings_for("plate", f"{s3_bucket}/in/plate.ome.zarr", output)
    settings.input_storage = settings.output_storage = options
    results = tmp_path / "results"
    plan = plan_row(settings, Run.current(results))
    write_local_bytes(results / "plate" / "plan.json", plan.to_bytes())
    # The job dies after its first convert job: shards are there, the rest is not.
    run_convert_job(plan, plan.jobs[0].id, results / "plate/convert" / f"{plan.jobs[0].id}.json")
    target = open_location(output, options)
    assert target.list_files() and not target.exists("zarr.json")
    entry = SheetEntry(dataset="plate", input=plan.input, output=output, settings_digest="")
    assert not outcomes.dataset_state(results, entry).done
    # The rerun finishes it, keeping the shards of the job that was done.
    outcome = run_dataset("plate", results, tmp_path / "logs", 2, "full", 8)
    assert outcome.valid, outcome.error
    assert target.exists("zarr.json")
    assert_same_pixels(examples[PLATE], output, options)


FAULTS = {"503": 8, "slow": 3, "drop": 8, "cut": 4}


def test_s3_to_s3_through_a_faulty_connection_gives_identical_pixels(
    examples, tmp_path, s3_server, s3_bucket, fault_proxy
):
    s3_server.upload(examples[PLATE], f"{s3_bucket}/in/plate.ome.zarr")
    proxy = fault_proxy(s3_server.endpoint, faults=FAULTS, every=7, slow_seconds=0.5)
    options = s3_options(proxy.endpoint, concurrency=4, retries=8)
    settings = settings_for(
        "plate", f"{s3_bucket}/in/plate.ome.zarr", f"{s3_bucket}/out/plate.ome.zarr"
    )
    settings.input_storage = settings.output_storage = options
    result = convert_dataset(settings, tmp_path / "results", threads=2, mode="full")
    assert result.report.valid, result.report.failed
    assert proxy.injected == FAULTS, proxy.injected
    assert_same_pixels(
        examples[PLATE], f"{s3_bucket}/out/plate.ome.zarr", s3_options(s3_server.endpoint)
    )


def test_an_https_input_through_a_faulty_connection_is_retried_to_identical_pixels(
    examples, tmp_path, http_folder, fault_proxy, caplog
):
    """fsspec's HTTP client does not retry: every fault here is the storage layer's to retry."""
    base_url = http_folder(examples[IMAGE].parent)
    proxy = fault_proxy(base_url, faults=FAULTS, every=5, slow_seconds=0.5)
    settings = settings_for(
        "img", f"{proxy.endpoint}/{examples[IMAGE].name}", tmp_path / "out.ome.zarr"
    )
    settings.input_storage = {"retries": 8}
    result = convert_dataset(settings, tmp_path / "results", threads=2, mode="full")
    assert result.report.valid, result.report.failed
    retried = [r for r in caplog.records if "; retry " in r.getMessage()]
    assert sum(proxy.injected.values()) > 0 and retried
    assert_same_pixels(examples[IMAGE], str(tmp_path / "out.ome.zarr"))


class _Forbidden(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, but answers 403 for one array's .zarray."""

    def send_head(self):  # noqa: ANN201 - the base class's signature
        if self.path.endswith("/labels/cells/0/.zarray"):
            self.send_error(403, "Forbidden")
            return None
        return super().send_head()

    def log_message(self, *args) -> None:
        pass


def test_a_permanent_error_fails_the_row_naming_dataset_key_and_status(examples, tmp_path, caplog):
    handler = functools.partial(_Forbidden, directory=str(examples[IMAGE].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{examples[IMAGE].name}"
        settings = settings_for("img", url, tmp_path / "out.ome.zarr")
        settings.input_storage = {"retries": 3}
        with pytest.raises(ValueError) as info:
            plan_row(settings, Run.current(tmp_path / "results"))
    finally:
        server.shutdown()
        server.server_close()
    message = str(info.value)
    assert "dataset 'img'" in message
    assert f"{url}/labels/cells/0/.zarray" in message and "HTTP 403" in message
    # Permanent: asked once, not retried.
    assert not [r for r in caplog.records if "retry" in r.getMessage()]


def test_an_https_key_that_fails_to_answer_is_retried_not_taken_for_missing(
    examples, http_folder, fault_proxy
):
    proxy = fault_proxy(http_folder(examples[IMAGE].parent), faults={"503": 2}, every=1)
    location = open_location(f"{proxy.endpoint}/{examples[IMAGE].name}", {"retries": 3})
    assert location.exists(".zattrs")
    assert location.retry_count.retries == 2 and proxy.exhausted
    assert not location.exists("no-such-key")


def test_a_missing_required_key_fails_the_row_naming_dataset_key_and_status(
    example_copy, tmp_path, http_folder
):
    source = example_copy(IMAGE)
    (source / "labels" / "cells" / "0" / ".zarray").unlink()
    url = f"{http_folder(source.parent)}/{source.name}"
    with pytest.raises(ValueError) as info:
        plan_row(settings_for("img", url, tmp_path / "o.ome.zarr"), Run.current(tmp_path))
    message = str(info.value)
    assert "dataset 'img'" in message and f"{url}/labels/cells/0" in message
    assert ".zarray (not found: 404" in message


# --- What proves that S3 holds a shard as written: the server's own digest, or a read-back ---

SHARD_KEY = re.compile(r"/out/.+/c(/\d+)+$")


def shard_requests(log: list[tuple[int, str, str, str]], method: str) -> list[str]:
    """The paths of the requests ``method`` of output shard objects in a proxy's log."""
    paths = (urllib_path(path) for _, m, path, _ in log if m == method)
    return [path for path in paths if SHARD_KEY.search(path)]


def shard_gets(proxy) -> list[tuple[str, str | None, int]]:
    """``(path, Range header or None, bytes answered)`` of each GET of an output shard object
    the proxy forwarded."""
    return [
        (urllib_path(path), byte_range, nbytes)
        for method, path, byte_range, nbytes in proxy.answered
        if method == "GET" and SHARD_KEY.search(urllib_path(path))
    ]


def urllib_path(path: str) -> str:
    return path.split("?", 1)[0]


def convert_through(proxy, s3_bucket: str, tmp_path: Path, **extra):
    """The example image converted from ``in/`` to ``out/`` of the bucket through ``proxy``:
    its plan, the convert jobs' records, the requests they made, and the validation report."""
    options = s3_options(proxy.endpoint)
    settings = settings_for(
        "img", f"{s3_bucket}/in/img.ome.zarr", f"{s3_bucket}/out/img.ome.zarr", **extra
    )
    settings.input_storage = settings.output_storage = options
    results = tmp_path / "results"
    run = Run.current(results)
    plan, _ = plan_and_record(settings, results, run)
    records = convert_jobs(plan, results, run, 2, 2.0)
    converting = list(proxy.log)
    write_metadata(plan, records, run)
    report = validate_dataset(plan, "full", 8, None, 2, records)
    return plan, records, converting, report


def stored_by(records: list[dict]) -> set[str]:
    return {
        way
        for record in records
        for entry in record["arrays"]
        for way, shards in entry["proof"]["stored_proven_by"].items()
        if shards
    }


def proof_problems(records: list[dict]) -> list[str]:
    return [
        entry["proof"]["problem"]
        for record in records
        for entry in record["arrays"]
        if entry["proof"]["problem"]
    ]


def read_in_ranges(monkeypatch) -> None:
    """Validation reads the example's small shards in ranges, as it reads large ones."""
    monkeypatch.setattr(pixels._OutputFiles, "REQUEST_BYTES", 0)


@pytest.mark.parametrize("codec", ["keep", "blosc-zstd-5"], ids=["shard copy", "chunk transcode"])
def test_s3_to_s3_proves_each_shard_by_the_servers_checksum_without_downloading_it(
    examples, tmp_path, s3_server, s3_bucket, fault_proxy, codec, monkeypatch
):
    s3_server.upload(examples[IMAGE], f"{s3_bucket}/in/img.ome.zarr")
    proxy = fault_proxy(s3_server.endpoint, faults={})
    plan, records, converting, report = convert_through(proxy, s3_bucket, tmp_path, codec=codec)
    assert report.valid, report.failed
    # Every shard written was asked for its ETag and checksum, none downloaded again.
    puts, heads = shard_requests(converting, "PUT"), shard_requests(converting, "HEAD")
    assert puts and sorted(heads) == sorted(puts)
    assert shard_requests(converting, "GET") == []
    assert stored_by(records) == {"server checksum"}
    details = [c["detail"] for c in report.to_json()["checks"] if "values equal" in c["check"]]
    assert details and all("held by storage as written" in d for d in details)
    assert_same_pixels(
        examples[IMAGE], f"{s3_bucket}/out/img.ome.zarr", s3_options(s3_server.endpoint)
    )
    # Validation reads these small shards whole (fewer bytes than a request per range costs)
    # and finds each the size and CRC32C recorded, without asking for their checksums...
    proxy.log.clear()
    proxy.answered.clear()
    again = validate_dataset(plan, "full", 2, 7, 2, records)
    assert again.valid, again.failed
    gets = shard_gets(proxy)
    assert gets and not any(byte_range for _, byte_range, _ in gets), gets
    assert shard_requests(proxy.log, "HEAD") == []
    # ...and larger ones (here: as if they were) by the size and CRC32C the server keeps with
    # them (a HEAD), then only the byte ranges of their index and sampled chunks.
    read_in_ranges(monkeypatch)
    proxy.log.clear()
    proxy.answered.clear()
    again = validate_dataset(plan, "full", 2, 7, 2, records)
    assert again.valid, again.failed
    gets = shard_gets(proxy)
    assert gets and all(byte_range for _, byte_range, _ in gets), gets
    read = {path for path, _, _ in gets}
    assert read == set(shard_requests(proxy.log, "HEAD"))
    sizes = s3_server.fs().du(f"{s3_bucket}/out/img.ome.zarr", total=False)
    assert sum(n for _, _, n in gets) < sum(sizes[path.lstrip("/")] for path in read)


def test_a_zarr_v3_input_copied_file_by_file_to_s3_is_proven_by_the_servers_checksum(
    tmp_path, s3_server, s3_bucket, fault_proxy
):
    from v05_inputs import image as v05_image

    source = v05_image(tmp_path / "in.ome.zarr", sharded=True, labels=False)
    s3_server.upload(source, f"{s3_bucket}/in/img.ome.zarr")
    proxy = fault_proxy(s3_server.endpoint, faults={})
    _, records, converting, report = convert_through(proxy, s3_bucket, tmp_path)
    assert report.valid, report.failed
    assert {a["engine"] for r in records for a in r["arrays"]} == {"file copy"}
    assert shard_requests(converting, "PUT") and shard_requests(converting, "GET") == []
    assert stored_by(records) == {"server checksum"}


def flip_first_shard_byte(changed: list[str]):
    """``alter_body`` of a proxy: the first shard PUT arrives with its first byte flipped."""

    def alter(method: str, path: str, body: bytes) -> bytes:
        if method == "PUT" and SHARD_KEY.search(urllib_path(path)) and not changed:
            changed.append(urllib_path(path))
            return bytes([body[0] ^ 0xFF]) + body[1:]
        return body

    return alter


@pytest.mark.parametrize("codec", ["keep", "blosc-zstd-5"], ids=["shard copy", "chunk transcode"])
def test_a_shard_damaged_on_its_way_to_the_server_is_found_by_the_servers_etag(
    examples, tmp_path, s3_server, s3_bucket, fault_proxy, codec
):
    """moto keeps the CRC32C a PUT sends without checking it against the body (S3 would
    refuse the PUT: BadDigest), so a HEAD answers the checksum of the bytes sent; its ETag is
    the MD5 of the bytes it stored, not of those: the shard is read back and the damage found."""
    s3_server.upload(examples[IMAGE], f"{s3_bucket}/in/img.ome.zarr")
    changed: list[str] = []
    proxy = fault_proxy(s3_server.endpoint, faults={}, alter_body=flip_first_shard_byte(changed))
    _, records, converting, report = convert_through(proxy, s3_bucket, tmp_path, codec=codec)
    (path,) = changed
    assert stored_by(records) == {"server checksum", "read back"}
    assert shard_requests(converting, "GET") == [path]
    (problem,) = proof_problems(records)
    array = f"s3:/{path.rsplit('/c/', 1)[0]}"
    assert array in problem, problem
    assert not report.valid
    assert array in failed_details(report), report.failed


def failed_details(report) -> str:
    return " ".join(c["detail"] for c in report.to_json()["checks"] if not c["ok"])


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC32"])
def test_an_object_changed_on_the_server_after_its_upload_fails_the_job_naming_it(
    examples, tmp_path, s3_server, s3_bucket, fault_proxy, algorithm
):
    """Replaced (by another size) before the job asks for it, with a CRC32C of its own or
    none: the server names another size and checksum, and the job fails."""
    s3_server.upload(examples[IMAGE], f"{s3_bucket}/in/img.ome.zarr")
    changed: list[str] = []
    fs = s3_server.fs()
    other = b"not the shard the job wrote"
    checksum = base64.b64encode(google_crc32c.value(other).to_bytes(4, "big")).decode()
    extra = {"ChecksumCRC32C": checksum} if algorithm == "CRC32C" else {}

    def overwrite(method: str, path: str) -> None:
        # The first shard asked for its checksum is replaced first, on the server itself.
        path = urllib_path(path)
        if method == "HEAD" and SHARD_KEY.search(path) and not changed:
            changed.append(path)
            fs.pipe_file(path.lstrip("/"), other, ChecksumAlgorithm=algorithm, **extra)

    proxy = fault_proxy(s3_server.endpoint, faults={}, before=overwrite)
    with pytest.raises(ConvertError) as failed:
        convert_through(proxy, s3_bucket, tmp_path)
    (path,) = changed
    stored = checksum if algorithm == "CRC32C" else None
    message = str(failed.value)
    assert f"s3:/{path}: the server holds 27 bytes of CRC32C {stored} there" in message


@pytest.mark.parametrize("ranges", [True, False], ids=["read in ranges", "read whole"])
@pytest.mark.parametrize("replacement", ["its own CRC32C", "no CRC32C", "the recorded CRC32C"])
def test_an_output_object_replaced_after_the_job_fails_validation(
    examples, tmp_path, s3_server, s3_bucket, fault_proxy, replacement, ranges, monkeypatch
):
    """An output shard replaced after its job by as many other bytes: with a CRC32C of its own
    (the server's differs from the job's record), with none (validation reads the shard whole
    and its CRC32C differs), or claiming the recorded one, as moto keeps it unchecked (S3 would
    refuse that PUT): the shard's index and chunks, read in ranges, are not the input's. A
    shard read whole is found another by its own CRC32C."""
    if ranges:
        read_in_ranges(monkeypatch)
    s3_server.upload(examples[IMAGE], f"{s3_bucket}/in/img.ome.zarr")
    proxy = fault_proxy(s3_server.endpoint, faults={})
    plan, records, converting, report = convert_through(proxy, s3_bucket, tmp_path)
    assert report.valid, report.failed
    path = shard_requests(converting, "PUT")[0].lstrip("/")
    fs = s3_server.fs()
    size = fs.size(path)
    other = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sent = {
        "its own CRC32C": google_crc32c.value(other),
        "the recorded CRC32C": google_crc32c.value(fs.cat_file(path)),
    }
    extra = {}
    if replacement in sent:
        value = base64.b64encode(sent[replacement].to_bytes(4, "big")).decode()
        extra = {"ChecksumAlgorithm": "CRC32C", "ChecksumCRC32C": value}
    fs.pipe_file(path, other, **extra)
    # Every input chunk sampled: the replaced shard is among those checked.
    report = validate_dataset(plan, "full", 10**6, None, 2, records)
    assert not report.valid
    problems = failed_details(report)
    array = path.rsplit("/c/", 1)[0]
    assert f"s3://{array}" in problems, problems
    if replacement != "the recorded CRC32C" or not ranges:
        server = ranges and replacement in sent
        how = "stored with it on the server" if server else "read whole"
        assert f"s3://{path} is not the file its convert job wrote" in problems, problems
        assert how in problems, problems


@pytest.mark.parametrize(
    ("strip_checksums", "opaque_etags"),
    [(True, False), (False, True), (True, True)],
    ids=["no checksums", "etags not md5", "neither"],
)
def test_a_server_without_checksums_or_md5_etags_has_shards_read_back(
    examples,
    tmp_path,
    s3_server,
    s3_bucket,
    fault_proxy,
    strip_checksums,
    opaque_etags,
    monkeypatch,
):
    """The server's ETag, the MD5 of the object, proves a shard held as written, whether the
    server keeps checksums or not; where ETags are not the MD5 (S3's for SSE-KMS objects), each
    shard is read back. Validation reads in ranges only where the server keeps a CRC32C."""
    read_in_ranges(monkeypatch)
    s3_server.upload(examples[IMAGE], f"{s3_bucket}/in/img.ome.zarr")
    proxy = fault_proxy(
        s3_server.endpoint,
        faults={},
        strip_checksums=strip_checksums,
        opaque_etags=opaque_etags,
    )
    plan, records, converting, report = convert_through(proxy, s3_bucket, tmp_path)
    assert report.valid, report.failed
    puts = shard_requests(converting, "PUT")
    gets = shard_requests(converting, "GET")
    details = [c["detail"] for c in report.to_json()["checks"] if "values equal" in c["check"]]
    if opaque_etags:
        assert puts and sorted(gets) == sorted(puts)
        assert stored_by(records) == {"read back"}
        assert details and all("shards read back by zarr-python" in d for d in details)
    else:
        assert puts and gets == []
        assert stored_by(records) == {"server checksum"}
    proxy.answered.clear()
    again = validate_dataset(plan, "full", 2, 7, 2, records)
    assert again.valid, again.failed
    validating = shard_gets(proxy)
    assert validating
    ranged = [byte_range is not None for _, byte_range, _ in validating]
    assert all(ranged) if not strip_checksums else not any(ranged), validating


def test_reread_on_s3_decodes_every_shard_fetched_from_the_server(
    examples, tmp_path, s3_server, s3_bucket, fault_proxy
):
    """Shards whose codecs decode synchronously are fetched through zarr-python's store at the
    keys its chunk key encoding gives, all in flight together, then decoded by its codecs."""
    s3_server.upload(examples[IMAGE], f"{s3_bucket}/in/img.ome.zarr")
    proxy = fault_proxy(s3_server.endpoint, faults={})
    plan, records, converting, _ = convert_through(proxy, s3_bucket, tmp_path, codec="keep")
    written = sorted(set(shard_requests(converting, "PUT")))
    proxy.log.clear()
    report = validate_dataset(plan, "reread", 8, 1, 2, records)
    assert report.valid, report.failed
    assert written and sorted(set(shard_requests(proxy.log, "GET"))) == written
    details = [c["detail"] for c in report.to_json()["checks"] if "values equal" in c["check"]]
    assert details and all("decoded; every inner chunk byte-identical" in d for d in details)
