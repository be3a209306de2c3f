"""Validation of arrays whose files are the input's own (an OME-Zarr 0.5 plate upgraded to 0.6
in place): every shard is decoded by zarr-python's codecs, in batches, and a shard that does not
decode fails its own array and no other; the log names each failure and sums up the rest."""

from __future__ import annotations

import gc
import json
import logging
from functools import partial
from pathlib import Path

import pytest
import v05_inputs
from conftest import run_pipeline, settings_for
from test_validation import inner_count, rewrite_shard, shard_chunks

from ngff_resave.checks import pixels, validation
from ngff_resave.checks.validation import validate_dataset
from ngff_resave.model.plan import Plan

ARRAY = "A/2/0/0"  # level 0 of a field: one shard of 2 x 2 inner chunks


def upgraded(tmp_path: Path) -> tuple[Plan, Path]:
    source = v05_inputs.plate(tmp_path / "plate.zarr")
    settings = settings_for(
        "p", source, source, mode="reference", in_place=True, ngff_version="0.6"
    )
    run = run_pipeline(settings, tmp_path / "results")
    assert run.report.valid, run.report.failed
    return run.plan, source


def damage(shard: Path, how: str, count: int) -> None:
    if how == "inner chunk":
        chunks = shard_chunks(shard, count)
        index = next(i for i, c in enumerate(chunks) if c is not None)
        chunks[index] = b"\xff" * len(chunks[index])  # same length, not zstd any more
        rewrite_shard(shard, chunks)  # a consistent index and CRC32C around it
    elif how == "index":
        data = bytearray(shard.read_bytes())
        data[-20] ^= 0xFF  # in the index: its CRC32C no longer matches
        shard.write_bytes(bytes(data))
    else:
        shard.write_bytes(shard.read_bytes()[:10])


@pytest.mark.parametrize("mode", ["full", "sample"])
@pytest.mark.parametrize("how", ["inner chunk", "index", "truncated"])
def test_a_shard_that_does_not_decode_fails_its_array_alone(tmp_path, monkeypatch, mode, how):
    plan, source = upgraded(tmp_path)
    shard = source / ARRAY / "c" / "0" / "0" / "0"
    damage(shard, how, inner_count(source, ARRAY))
    decoded = []
    decode_stored = pixels._decode_stored
    monkeypatch.setattr(pixels, "_decode_stored", lambda *a: decoded.append(a) or decode_stored(*a))
    report = validate_dataset(plan, mode, sample=8, seed=1, threads=1).to_json()
    assert len(decoded) == len(plan.arrays)  # each shard by zarr-python's codecs, directly
    assert report["failed"] == [f"array {ARRAY}: values equal the input ({mode})"]
    assert report["failed_arrays"] == [ARRAY]
    detail = next(c["detail"] for c in report["checks"] if not c["ok"])
    assert detail.startswith("cannot read [") and f"{ARRAY}" in detail


def test_batches_decode_as_zarr_python_arrays_do(tmp_path, monkeypatch):
    """The same shards, decoded one call per shard through zarr-python's arrays, fail alike;
    and a valid plate is valid both ways."""
    plan, source = upgraded(tmp_path)
    batched = validate_dataset(plan, "full", sample=8, seed=1, threads=1).to_json()
    monkeypatch.setattr(pixels, "_decodes_directly", lambda codecs, inner=False: False)
    monkeypatch.setattr(pixels, "BATCH_SHARDS", 1)
    one_by_one = validate_dataset(plan, "full", sample=8, seed=1, threads=1).to_json()
    assert batched["valid"] and one_by_one["valid"]
    damage(source / ARRAY / "c" / "0" / "0" / "0", "inner chunk", inner_count(source, ARRAY))
    one_by_one = validate_dataset(plan, "full", sample=8, seed=1, threads=1).to_json()
    monkeypatch.undo()
    batched = validate_dataset(plan, "full", sample=8, seed=1, threads=1).to_json()
    assert batched["failed_arrays"] == one_by_one["failed_arrays"] == [ARRAY]


def test_the_log_sums_up_checks_passed_and_names_each_failure(tmp_path, caplog):
    plan, source = upgraded(tmp_path)
    damage(source / ARRAY / "c" / "0" / "0" / "0", "truncated", 0)
    caplog.set_level(logging.INFO, logger="ngff_resave")
    report = validate_dataset(plan, "full", sample=8, seed=1, threads=1)
    report.log_summary()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ngff_resave.checks")]
    # The failure, named; the checks passed one line per kind, not one per check.
    assert [line for line in lines if line.startswith("FAILED")] == [
        f"FAILED: array {ARRAY}: values equal the input (full) "
        f"({next(c['detail'] for c in report.checks if not c['ok'])})"
    ]
    passed = len(report.checks) - 1
    assert f"dataset 'p': {len(report.checks)} checks, {passed} passed, 1 failed" in lines
    assert f"ok: {len(plan.arrays) - 1} x array *: values equal the input (full)" in lines
    assert f"ok: {len(plan.arrays)} x array *: dimension_names equal the axes" in lines
    assert len(lines) < len(report.checks) / 2
    assert not [line for line in lines if line.startswith("ok: array ")]


def test_an_array_whose_zarr_json_differs_in_one_value_is_decoded_by_its_own(tmp_path):
    """The arrays of a plate share a layout parsed once; one whose document says its shard
    index comes first is read as it says, and fails alone."""
    plan, source = upgraded(tmp_path)
    document = source / ARRAY / "zarr.json"
    metadata = json.loads(document.read_text())
    metadata["codecs"][0]["configuration"]["index_location"] = "start"
    document.write_text(json.dumps(metadata))
    report = validate_dataset(plan, "full", sample=8, seed=1, threads=1).to_json()
    assert report["failed_arrays"] == [ARRAY]
    assert report["failed"] == [
        f"array {ARRAY}: codecs, fill value and chunk keys as planned",
        f"array {ARRAY}: values equal the input (full)",
    ]


def test_documents_are_read_and_arrays_compared_with_the_collector_paused(tmp_path, monkeypatch):
    plan, _ = upgraded(tmp_path)
    collecting = []

    def noting(step, *args):
        collecting.append(gc.isenabled())
        return step(*args)

    for name in ("Nodes", "ArrayComparison"):
        monkeypatch.setattr(validation, name, partial(noting, getattr(validation, name)))
    assert validate_dataset(plan, "full", sample=8, seed=1, threads=1).valid
    assert collecting == [False, False]
    assert gc.isenabled()


def test_the_shards_are_checked_while_the_groups_are(tmp_path, monkeypatch):
    """The worker processes start before the groups are validated; the report keeps its
    order: the root, the groups, the arrays, the seed, the crate."""
    plan, _ = upgraded(tmp_path)
    steps = []
    for module, name in ((pixels, "_start_processes"), (validation, "validate_models")):
        step = getattr(module, name)
        monkeypatch.setattr(
            module, name, partial(lambda step, name, *a: steps.append(name) or step(*a), step, name)
        )
    checks = validate_dataset(plan, "full", sample=8, seed=1, threads=2).checks
    assert steps == ["_start_processes", "validate_models"]
    names = [c["check"] for c in checks]
    first_array = next(i for i, n in enumerate(names) if n.startswith("array "))
    last_array = max(i for i, n in enumerate(names) if n.startswith("array "))
    assert names[0].startswith("root zarr.json")
    assert all(n.startswith(("0.6 JSON schemas", "groups:")) for n in names[1:first_array])
    assert names[last_array + 1] == "sample seed"
    assert names[last_array + 2 :] and all(n.startswith("crate: ") for n in names[last_array + 2 :])


def test_worker_processes_fail_what_threads_fail(tmp_path, monkeypatch):
    """Where worker processes check the shards, they read the arrays' zarr.json themselves: a
    damaged shard, a wrong document and a missing one fail the same checks as in threads,
    the 0.6 schemas' included, in the same report."""
    plan, source = upgraded(tmp_path)
    damage(source / ARRAY / "c" / "0" / "0" / "0", "truncated", 0)
    document = source / "B/1/0/1/zarr.json"
    metadata = json.loads(document.read_text())
    metadata["dimension_names"] = metadata["dimension_names"][::-1]
    document.write_text(json.dumps(metadata))
    (source / "B/2/0/0/zarr.json").unlink()
    by_threads = validate_dataset(plan, "full", sample=8, seed=1, threads=1).to_json()
    started = []
    start = pixels._start_processes
    monkeypatch.setattr(pixels, "_start_processes", lambda *a: started.append(a) or start(*a))
    by_processes = validate_dataset(plan, "full", sample=8, seed=1, threads=2).to_json()
    assert started
    assert by_processes == by_threads
    assert by_processes["failed_arrays"] == [ARRAY, "B/1/0/1", "B/2/0/0"]
    assert by_processes["failed_groups"] == ["B/1/0"]
