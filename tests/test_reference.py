"""Reference mode: OME-Zarr 0.5 metadata over the input's own v2 chunk files, in place or in a
new output of links; read by zarr-python, tensorstore and the zarrs pipeline identically to
the v2 original, and accepted by the ome-zarr-models v05 classes."""

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
from conftest import read_json, run_pipeline, settings_for, snakemake
from remote_servers import s3_bucket_fixture, s3_server_fixture  # noqa: F401 - fixtures
from v2_images import COMPRESSORS, read_three_ways, write_v2_image

from ngff_resave.model.plan import PlanError
from ngff_resave.records.ownership import CLAIM_FILE, CRATE_FILE
from ngff_resave.storage import open_location

V2_DOCUMENTS = {".zgroup", ".zattrs", ".zarray"}


def snapshot(root: Path) -> dict[str, tuple[int, str, int]]:
    """Every file below ``root``: inode, content digest and modification time."""
    return {
        str(p.relative_to(root)): (
            p.stat().st_ino,
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def chunk_files(array: Path) -> list[Path]:
    return sorted(
        p for p in array.rglob("*") if p.is_file() and p.name not in {*V2_DOCUMENTS, "zarr.json"}
    )


def open_v05(root: Path):
    from ome_zarr_models.v05 import HCS, Image

    group = zarr.open_group(str(root), mode="r", zarr_format=3)
    kind = HCS if "plate" in group.attrs["ome"] else Image
    return kind.from_zarr(group)


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
@pytest.mark.parametrize(
    ("dtype", "order", "separator"),
    [("<u2", "C", "/"), (">u2", "C", "."), ("<f4", "F", "/"), ("|u1", "F", ".")],
)
def test_referenced_arrays_read_identically_everywhere(tmp_path, name, dtype, order, separator):
    source = tmp_path / "in.zarr"
    expected = write_v2_image(source, COMPRESSORS[name], dtype, order, separator)
    before = snapshot(source)
    result = run_pipeline(
        settings_for("d", source, tmp_path / "out.zarr", mode="reference"), tmp_path / "r"
    )
    array = result.plan.arrays[0]
    assert array.mode == "reference", array.reason
    assert result.report.valid, result.report.failed
    metadata = read_json(tmp_path / "out.zarr" / "0" / "zarr.json")
    assert metadata["chunk_key_encoding"] == {
        "name": "v2",
        "configuration": {"separator": separator},
    }
    assert [c["name"] for c in metadata["codecs"]] != ["sharding_indexed"]
    linked = chunk_files(tmp_path / "out.zarr" / "0")
    assert len(linked) == len(chunk_files(source / "0")) > 0
    assert all(
        os.path.samefile(p, source / "0" / p.relative_to(tmp_path / "out.zarr" / "0"))
        for p in linked
    )
    assert result.records[0]["bytes_written"] == 0
    assert result.records[0]["links"] == {"hard": len(linked), "symbolic": 0}
    np.testing.assert_array_equal(
        zarr.open_array(str(source / "0"), mode="r", zarr_format=2)[...], expected
    )
    for got in read_three_ways(tmp_path / "out.zarr" / "0"):
        np.testing.assert_array_equal(got, expected)
    open_v05(tmp_path / "out.zarr")
    assert snapshot(source) == before


def test_in_place_adds_only_metadata_and_reads_the_same_files(tmp_path):
    source = tmp_path / "in.zarr"
    expected = write_v2_image(source, COMPRESSORS["gzip"], ">u2", "F", ".")
    before = snapshot(source)
    settings = settings_for("d", source, source, mode="reference", in_place=True)
    for _ in range(2):  # the second run reads the input past the metadata the first wrote
        result = run_pipeline(settings, tmp_path / "r")
        assert result.report.valid, result.report.failed
        assert result.records[0]["links"] is None
    after = snapshot(source)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == sorted(
        ["zarr.json", "0/zarr.json", CLAIM_FILE, CRATE_FILE]
    )
    assert result.plan.files == []
    for got in read_three_ways(source / "0"):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        zarr.open_array(str(source / "0"), mode="r", zarr_format=2)[...], expected
    )
    open_v05(source)


def test_examples_referenced_are_valid_ome_zarr_05(examples, tmp_path):
    for dataset, source in examples.items():
        before = snapshot(source)
        output = tmp_path / f"{dataset}.ome.zarr"
        result = run_pipeline(
            settings_for(dataset, source, output, mode="reference"), tmp_path / "r"
        )
        assert result.report.valid, (dataset, result.report.failed)
        assert {a.mode for a in result.plan.arrays} == {"reference"}
        open_v05(output / "0" if result.plan.kind == "bioformats2raw" else output)
        for array in result.plan.arrays:
            original = zarr.open_array(str(source / array.path), mode="r", zarr_format=2)[...]
            for got in read_three_ways(output / array.path):
                np.testing.assert_array_equal(got, original)
        assert snapshot(source) == before


def test_symbolic_links_where_hard_links_cannot_cross_devices(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) to link across")
    source = tmp_path / "in.zarr"
    expected = write_v2_image(source, COMPRESSORS["zstd"])
    output = shm / f"ngff-resave-test-{os.getpid()}-{tmp_path.name}"
    try:
        result = run_pipeline(
            settings_for("d", source, output / "out.zarr", mode="reference"), tmp_path / "r"
        )
        assert result.report.valid, result.report.failed
        links = chunk_files(output / "out.zarr" / "0")
        assert result.records[0]["links"] == {"hard": 0, "symbolic": len(links)}
        assert all(p.is_symlink() and Path(os.readlink(p)).is_absolute() for p in links)
        for got in read_three_ways(output / "out.zarr" / "0"):
            np.testing.assert_array_equal(got, expected)
    finally:
        shutil.rmtree(output, ignore_errors=True)


@pytest.mark.parametrize(
    ("compressor", "filters", "why"),
    [
        (numcodecs.Zlib(level=1), None, "zlib"),
        (numcodecs.Zstd(level=1), [numcodecs.Delta(dtype="<u2")], "filters"),
    ],
)
def test_arrays_that_cannot_be_referenced_fail_the_plan_unless_fallback(
    tmp_path, compressor, filters, why
):
    source = tmp_path / "in.zarr"
    expected = write_v2_image(source, compressor)
    if filters:
        zarray = read_json(source / "0" / ".zarray")
        zarray["filters"] = [f.get_config() for f in filters]
        (source / "0" / ".zarray").write_text(json.dumps(zarray))
        expected = zarr.open_array(str(source / "0"), mode="r", zarr_format=2)[...]
    with pytest.raises(
        PlanError, match=rf"dataset 'd'.*mode reference.*array 0: .*{why}.*fallback: true"
    ):
        run_pipeline(
            settings_for("d", source, tmp_path / "out.zarr", mode="reference"), tmp_path / "r"
        )
    assert not (tmp_path / "out.zarr").exists()
    with pytest.raises(PlanError, match="in_place writes metadata only"):
        run_pipeline(
            settings_for("d", source, source, mode="reference", in_place=True, fallback=True),
            tmp_path / "r",
        )
    assert not (source / "zarr.json").exists()
    result = run_pipeline(
        settings_for("d", source, tmp_path / "out.zarr", mode="reference", fallback=True),
        tmp_path / "r",
    )
    assert result.report.valid, result.report.failed
    array = result.plan.arrays[0]
    assert array.mode == "reencode" and array.reason.startswith("cannot be referenced")
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "out.zarr" / "0"), mode="r")[...], expected
    )


def test_a_changed_link_fails_validation(tmp_path):
    from ngff_resave.checks.validation import validate_dataset

    source = tmp_path / "in.zarr"
    write_v2_image(source, COMPRESSORS["none"], drop=0)
    output = tmp_path / "out.zarr"
    result = run_pipeline(settings_for("d", source, output, mode="reference"), tmp_path / "r")
    assert result.report.valid
    link = chunk_files(output / "0")[3]
    data = bytearray(link.read_bytes())
    link.unlink()  # the input's file stays as it was
    data[0] ^= 0xFF
    link.write_bytes(bytes(data))
    report = validate_dataset(result.plan)
    assert not report.valid
    assert any("differs from" in c["detail"] for c in report.checks if not c["ok"])
    link.unlink()
    report = validate_dataset(result.plan)
    assert any("is missing; the input has" in c["detail"] for c in report.checks if not c["ok"])


def test_switching_modes_leaves_no_files_of_the_other(tmp_path):
    source = tmp_path / "in.zarr"
    expected = write_v2_image(source, COMPRESSORS["zstd"])
    output = tmp_path / "out.zarr"
    for mode, present, absent in [
        ("auto", "c", "0"),
        ("reference", "0", "c"),
        ("auto", "c", "0"),
    ]:
        result = run_pipeline(settings_for("d", source, output, mode=mode), tmp_path / "r")
        assert result.report.valid, result.report.failed
        # Emptied folders may stay; no file of the other mode's layout does.
        assert [p for p in (output / "0" / present).rglob("*") if p.is_file()]
        assert not [p for p in (output / "0" / absent).rglob("*") if p.is_file()], mode
        np.testing.assert_array_equal(zarr.open_array(str(output / "0"), mode="r")[...], expected)


def test_in_place_refuses_metadata_it_did_not_write(tmp_path):
    source = tmp_path / "in.zarr"
    write_v2_image(source, COMPRESSORS["zstd"])
    (source / CRATE_FILE).write_text('{"@graph": []}')
    with pytest.raises(PlanError, match=rf"in_place: .* already holds {CRATE_FILE}, which"):
        run_pipeline(
            settings_for("d", source, source, mode="reference", in_place=True), tmp_path / "r"
        )
    assert (source / CRATE_FILE).read_text() == '{"@graph": []}'
    (source / CRATE_FILE).unlink()
    (source / "0" / "zarr.json").write_text("{}")
    with pytest.raises(PlanError, match=r"in_place: .* already holds 0/zarr.json, which"):
        run_pipeline(
            settings_for("d", source, source, mode="reference", in_place=True), tmp_path / "r"
        )
    assert (source / "0" / "zarr.json").read_text() == "{}"
    assert not (source / CLAIM_FILE).exists()


def test_workflow_rows_in_reference_mode_and_their_catalog(tmp_path, examples):
    workdir = tmp_path / "work"
    inputs = workdir / "inputs"
    for dataset in ("image-with-labels", "plate"):
        shutil.copytree(examples[dataset], inputs / f"{dataset}.ome.zarr")
    (workdir / "samples.tsv").write_text(
        "dataset\tinput\tmode\tin_place\tlicense\n"
        "linked\tinputs/image-with-labels.ome.zarr\treference\t\tCC-BY-4.0\n"
        "inplace\tinputs/plate.ome.zarr\treference\ttrue\tCC0-1.0\n"
        "copied\tinputs/image-with-labels.ome.zarr\t\t\tCC-BY-4.0\n"
    )
    (workdir / "config.yaml").write_text("samples: samples.tsv\n")
    plate_before = snapshot(inputs / "plate.ome.zarr")
    snakemake(workdir)
    with open(workdir / "results" / "catalog.csv") as handle:
        rows = {row["dataset"]: row for row in csv.DictReader(handle)}
    assert {d: rows[d]["mode"] for d in rows} == {
        "linked": "reference",
        "inplace": "reference",
        "copied": "copy",
    }
    assert all(row["valid"] == "True" for row in rows.values())
    for dataset, root in [
        ("linked", workdir / "results" / "ome-zarr" / "linked.ome.zarr"),
        ("inplace", inputs / "plate.ome.zarr"),
    ]:
        metadata = sum(
            p.stat().st_size for p in root.rglob("*") if p.name in {"zarr.json", CRATE_FILE}
        )
        assert int(rows[dataset]["written"]) == metadata, dataset
        assert rows[dataset]["shards"] == ""
        assert rows[dataset]["url"] == str(root)
    assert int(rows["copied"]["written"]) > 10 * int(rows["linked"]["written"])
    after = snapshot(inputs / "plate.ome.zarr")
    assert {k: v for k, v in after.items() if k in plate_before} == plate_before
    assert {Path(k).name for k in set(after) - set(plate_before)} == {
        "zarr.json",
        CLAIM_FILE,
        CRATE_FILE,
    }
    open_v05(inputs / "plate.ome.zarr")
    # Nothing to redo on the next run.
    result = snakemake(workdir, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.workflow
def test_in_place_on_s3_adds_only_metadata_objects(examples, tmp_path, s3_server, s3_bucket):
    source = f"{s3_bucket}/in/plate.ome.zarr"
    s3_server.upload(examples["plate"], source)
    fs = s3_server.fs()
    before = {key: fs.cat_file(key) for key in fs.find(source)}
    options = {"endpoint_url": s3_server.endpoint}
    settings = settings_for("plate", source, source, mode="reference", in_place=True)
    settings.input_storage = settings.output_storage = options
    for _ in range(2):  # the second run reads the input past the metadata the first wrote
        result = run_pipeline(settings, tmp_path / "results")
        assert result.report.valid, result.report.failed
    fs.invalidate_cache()
    added = set(fs.find(source)) - set(before)
    assert {key: fs.cat_file(key) for key in before} == before
    assert {key.rsplit("/", 1)[-1] for key in added} == {"zarr.json", CLAIM_FILE, CRATE_FILE}
    nodes = {"", *result.plan.groups, *(a.path for a in result.plan.arrays)}
    assert len(added) == len(nodes) + 2
    location = open_location(source, options)
    for array in result.plan.arrays:
        expected = zarr.open_array(str(examples["plate"] / array.path), mode="r", zarr_format=2)
        got = zarr.open_array(location.zarr_store(array.path), mode="r", zarr_format=3)
        np.testing.assert_array_equal(got[...], expected[...])


def test_tables_are_migrated_into_a_new_output_and_refused_in_place(tmp_path):
    import input_defects

    source = input_defects.image_with_tables(tmp_path / "in")
    before = snapshot(source)
    with pytest.raises(PlanError, match=r"in_place writes metadata only, but .* tables/"):
        run_pipeline(
            settings_for("d", source, source, mode="reference", in_place=True), tmp_path / "r"
        )
    assert snapshot(source) == before
    output = tmp_path / "out.zarr"
    result = run_pipeline(settings_for("d", source, output, mode="reference"), tmp_path / "r")
    assert result.report.valid, result.report.failed
    assert {a.mode for a in result.plan.arrays} == {"reference"}
    assert any(e.action == "migrate" for e in result.plan.extras)
    assert snapshot(source) == before
