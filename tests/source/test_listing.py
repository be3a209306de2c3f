"""Every input file accounted for: chunk key layouts decided from the listing whichever chunks
exist, stray files named, a listed chunk never read as the fill value, sparse arrays costing
what they hold."""

import json
import time

import numcodecs
import numpy as np
import pytest
import tensorstore as ts
import zarr
from conftest import run_pipeline, settings_for
from input_defects import LABEL_NAME, label_with_undeclared_nested_keys
from v2_images import COMPRESSORS, write_v2_image

from ngff_resave.model.plan import PlanError
from ngff_resave.sheet.plan import plan_row
from ngff_resave.source.layout import SourceError, read_source
from ngff_resave.source.listing import (
    DatasetListing,
    group_by_array,
    list_v2_chunks,
    list_v3_files,
)
from ngff_resave.storage import open_location
from ngff_resave.storage.local import LocalLocation

pytest.importorskip("ome_zarr")

LABEL_LEVEL = f"labels/{LABEL_NAME}/s0"


def _tensorstore_reads(path, driver, **spec):
    return ts.open({"driver": driver, "kvstore": f"file://{path}", **spec}, read=True).result()


def test_nested_keys_without_a_separator_convert_with_every_labelled_pixel(tmp_path):
    source, labels = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    assert not (source / LABEL_LEVEL / "0/0/0/0/0").exists()  # the first tile: no file
    run = run_pipeline(settings_for("nested", source, tmp_path / "out.ome.zarr"), tmp_path / "r")
    assert run.report.valid, run.report.failed
    mends = [m for m in run.plan.mends if m.rule == "chunk key separator"]
    assert sorted(m.path for m in mends) == [LABEL_LEVEL, f"labels/{LABEL_NAME}/s1"]
    # Tensorstore reads the input's files as they are stored ('/' keys) and the output: equal.
    stored = _tensorstore_reads(source / LABEL_LEVEL, "zarr", metadata={"dimension_separator": "/"})
    written = _tensorstore_reads(tmp_path / "out.ome.zarr" / LABEL_LEVEL, "zarr3")
    assert np.count_nonzero(labels) > 2000
    np.testing.assert_array_equal(written.read().result(), stored.read().result())
    np.testing.assert_array_equal(written.read().result(), labels)


def test_nested_keys_without_a_separator_are_refused_under_mend_false(tmp_path):
    source, _ = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    settings = settings_for("nested", source, tmp_path / "out.ome.zarr", mend=False)
    with pytest.raises(PlanError, match=rf"chunk key separator at .*{LABEL_LEVEL}: set "):
        plan_row(settings, _run(tmp_path))


def _run(tmp_path):
    from ngff_resave.records.ownership import Run

    return Run.current(tmp_path / "results")


def test_chunk_files_under_both_separators_are_refused_naming_a_key_of_each(tmp_path):
    source, _ = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    level = source / LABEL_LEVEL
    (level / "0.0.0.0.0").write_bytes((level / "0/0/0/1/1").read_bytes())
    with pytest.raises(SourceError, match=r"both '\.' keys \(0\.0\.0\.0\.0\) and '/' keys"):
        read_source(open_location(str(source)), "nested")


def test_stray_files_and_chunks_outside_the_grid_are_named_as_skipped(tmp_path):
    source, _ = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    level = source / LABEL_LEVEL
    (level / "notes.txt").write_text("left by hand")
    (level / "0/0/0/9").mkdir(parents=True)
    (level / "0/0/0/9/9").write_bytes((level / "0/0/0/1/1").read_bytes())
    run = run_pipeline(settings_for("stray", source, tmp_path / "out.ome.zarr"), tmp_path / "r")
    assert run.report.valid, run.report.failed
    skipped = {item.path: item.reason for item in run.plan.skipped}
    assert skipped[f"{LABEL_LEVEL}/notes.txt"] == "not a chunk key of this array"
    assert skipped[f"{LABEL_LEVEL}/0/0/0/9/9"].startswith("chunk outside the array's grid")


@pytest.mark.parametrize(
    ("engine", "extra", "missed"),
    [
        ("shard copy", {}, f"{LABEL_LEVEL}/0/0/0/2/2"),
        ("chunk transcode", {"codec": "blosc-zstd-5"}, f"{LABEL_LEVEL}/0/0/0/2/2"),
        ("zarr-python", {"chunks": [1, 1, 1, 32, 32]}, f"{LABEL_LEVEL}/0/0/0/2/2"),
        ("tensorstore", {"chunks": [1, 1, 1, 32, 32]}, "s0/0/0/0/0/0"),
    ],
)
def test_a_listed_chunk_read_as_absent_fails_the_job_instead_of_writing_fill(
    tmp_path, engine, extra, missed
):
    """A chunk file listed at planning that is gone when the job reads it (a flaky mount, a
    not-found answered for a transient error) fails the job, whichever engine reads it."""
    from ngff_resave.arrays.convert import choose_engine
    from ngff_resave.steps.pack import convert_jobs, plan_and_record

    source, _ = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    settings = settings_for("flaky", source, tmp_path / "out.ome.zarr", **extra)
    run = _run(tmp_path)
    plan, _ = plan_and_record(settings, tmp_path / "results", run)
    array = next(a for a in plan.arrays if missed.startswith(f"{a.path}/"))
    locations = open_location(str(source)), open_location(str(tmp_path / "out.ome.zarr"))
    assert choose_engine(array, *locations) == engine
    (source / missed).unlink()
    with pytest.raises(Exception, match=r"listed when the dataset was planned but reads as absent"):
        convert_jobs(plan, tmp_path / "results", run, 2, 0.0)
    assert not (tmp_path / "out.ome.zarr" / "zarr.json").exists()


def test_an_array_without_its_optional_metadata_file_converts_through_zarr_python(tmp_path):
    """zarr-python asks for a v2 array's .zattrs whether it is there or not: a missing one is
    no listed chunk read as absent."""
    root = tmp_path / "in.zarr"
    expected = write_v2_image(root, COMPRESSORS["zstd"])
    (root / "0" / ".zattrs").unlink(missing_ok=True)
    settings = settings_for("d", root, tmp_path / "out.zarr", chunks=[1, 1, 1, 16, 16])
    result = run_pipeline(settings, tmp_path / "r")
    assert result.records[0]["arrays"][0]["engine"] == "zarr-python"
    assert result.report.valid, result.report.failed
    np.testing.assert_array_equal(
        zarr.open_array(tmp_path / "out.zarr" / "0", mode="r")[:], expected
    )


def test_listing_classifies_keys_whichever_chunks_exist():
    grid = [1, 4, 4]
    dotted = list_v2_chunks("a", ["0.3.3", ".zarray", "0.1.2"], grid, ".")
    assert (dotted.separator, dotted.found) == (".", {(0, 3, 3), (0, 1, 2)})
    nested = list_v2_chunks("a", ["0/3/3", "0/9/0", "x"], grid, ".")
    assert (nested.separator, nested.found) == ("/", {(0, 3, 3)})
    assert [key for key, _ in nested.strays] == ["x", "0/9/0"]
    assert list_v2_chunks("a", ["0.1"], grid, ".").strays[0][1].startswith("not a chunk key")
    v3 = list_v3_files("a", ["c/0/1/1", "zarr.json", "c/0/5/0"], grid, {"name": "default"})
    assert v3.found == {(0, 1, 1)} and [k for k, _ in v3.strays] == ["c/0/5/0"]
    with pytest.raises(ValueError, match=r"c\.0\.1\.1 is not spelled as"):
        list_v3_files("a", ["c.0.1.1"], grid, {"name": "default"})


def _huge_sparse_image(root):
    """A 1,000,000 x 1,000,000 uint8 image in 4 x 4 chunks holding one chunk file."""
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    array = group.create_array(
        "0",
        shape=(1_000_000, 1_000_000),
        chunks=(4, 4),
        dtype="uint8",
        compressors=numcodecs.Zstd(level=1),
        chunk_key_encoding={"name": "v2", "separator": "/"},
        fill_value=0,
    )
    block = np.arange(16, dtype=np.uint8).reshape(4, 4) + 1
    array[400_000:400_004, 800_000:800_004] = block
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": axes,
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}
            ],
        }
    ]
    return block


def test_a_sparse_array_costs_what_it_holds(tmp_path):
    source = tmp_path / "sparse.ome.zarr"
    block = _huge_sparse_image(source)
    stored = [p.name for p in (source / "0").rglob("*") if p.is_file()]
    assert sorted(stored) == [".zarray", ".zattrs", "200000"]  # one chunk file
    started = time.monotonic()
    run = run_pipeline(
        settings_for("sparse", source, tmp_path / "out.ome.zarr"), tmp_path / "r", mode="full"
    )
    seconds = time.monotonic() - started
    assert run.report.valid, run.report.failed
    assert len(run.plan.jobs) == 1
    written = [p for p in (tmp_path / "out.ome.zarr" / "0").rglob("*") if p.is_file()]
    assert len(written) == 2, written  # zarr.json and the one shard holding the chunk
    out = zarr.open_array(str(tmp_path / "out.ome.zarr" / "0"), mode="r")
    np.testing.assert_array_equal(out[400_000:400_004, 800_000:800_004], block)
    assert out[0:8, 0:8].sum() == 0
    print(f"sparse 10^12-pixel array converted and validated in {seconds:.1f} s")


def test_plan_records_the_listing(tmp_path):
    source, _ = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    layout = read_source(open_location(str(source)), "nested")
    level = next(a for a in layout.arrays if a.path == LABEL_LEVEL)
    assert level.listing is not None and len(level.listing.found) == 15
    assert json.dumps(level.to_json())  # the listing is not part of the layout's JSON


def test_validation_compares_the_chunks_the_jobs_found_with_the_listing(tmp_path):
    from ngff_resave.checks.validation import validate_dataset

    source, _ = label_with_undeclared_nested_keys(tmp_path / "in.ome.zarr")
    run = run_pipeline(settings_for("count", source, tmp_path / "out.ome.zarr"), tmp_path / "r")
    assert run.report.valid, run.report.failed
    counts = [a["files_found"] for r in run.records for a in r["arrays"] if "files_found" in a]
    assert sum(counts) == sum(a.input.files_found or 0 for a in run.plan.arrays)
    for record in run.records:
        for entry in record["arrays"]:
            if entry["path"] == LABEL_LEVEL:
                entry["files_found"] -= 1  # as if a job had read one listed chunk as absent
    report = validate_dataset(run.plan, "full", 8, 1, 1, run.records)
    assert not report.valid
    assert any(
        "found 14 input chunk files, the listing made at planning 15" in c["detail"]
        for c in report.checks
        if not c["ok"]
    )


def test_a_table_array_whose_chunk_keys_are_not_its_separators_is_refused(tmp_path):
    from input_defects import TABLE_NAME, image_with_tables

    root = image_with_tables(tmp_path)
    array = root / "tables" / TABLE_NAME / "X"
    chunks = [p for p in array.iterdir() if not p.name.startswith(".")]
    assert chunks and all("." in p.name for p in chunks)  # '.' keys, as .zarray says
    for chunk in chunks:  # moved to nested keys, as an early nested store would have them
        nested = array.joinpath(*chunk.name.split("."))
        nested.parent.mkdir(parents=True, exist_ok=True)
        chunk.rename(nested)
    with pytest.raises(SourceError, match=rf"tables/{TABLE_NAME}/X: its chunk files are stored"):
        read_source(open_location(str(root)), "tables")


def test_the_listing_leaves_the_pixels_digest_as_it_was(examples, tmp_path):
    """Datasets converted before inputs were listed keep their convert records."""
    settings = settings_for("img", examples["image-with-labels"], tmp_path / "o.ome.zarr")
    plan = plan_row(settings, _run(tmp_path))
    assert any(a.input.files_found for a in plan.arrays)
    assert any(a.input.present for a in plan.arrays)  # the label's empty tiles
    unlisted = plan.model_copy(deep=True)
    for array in unlisted.arrays:
        array.input.files_found = array.input.present = None
    assert unlisted.pixels_digest() == plan.pixels_digest()
    assert unlisted.to_bytes() != plan.to_bytes()


def test_a_dataset_listing_gives_entries_and_keys_as_the_store_would():
    # "a.b" sorts between "a" and "a/..." in the keys: entries are sorted by name all the same.
    listing = DatasetListing(["a/0/c", "a/1", "a/x/y/z", "a.b/x", "b", "zarr.json"])
    assert listing.entries("") == [("a", True), ("a.b", True), ("b", False), ("zarr.json", False)]
    assert listing.entries("a") == [("0", True), ("1", False), ("x", True)]
    assert listing.entries("a/x/y") == [("z", False)] and listing.entries("c") == []
    assert listing.below("a") == ["0/c", "1", "x/y/z"] and listing.below("") == listing.keys
    assert "a/1" in listing and "a" not in listing and "a/x" not in listing


def test_each_file_goes_to_the_deepest_array_holding_it():
    keys = sorted(["0/c/0", "0/inner/c/1", "0/inner/zarr.json", "0.5/c/0", "0/zarr.json", "t"])
    assert group_by_array(keys, ["0", "0/inner", "0.5"]) == {
        "0": ["c/0", "zarr.json"],
        "0/inner": ["c/1", "zarr.json"],
        "0.5": ["c/0"],
    }
    assert group_by_array(keys, ["", "0/inner"])[""] == ["0.5/c/0", "0/c/0", "0/zarr.json", "t"]


def test_a_listed_input_is_listed_once_and_no_missing_document_asked_for(tmp_path, monkeypatch):
    """The listing says which documents are there: the labels group each image may have, the
    claim, are not requested where it shows none (each a round trip on a remote store), and
    no folder is listed again."""
    from v05_inputs import plate

    root = plate(tmp_path / "plate.ome.zarr")
    asked: list[tuple[str, str]] = []
    for name in ("list_files", "list_entries", "file_sizes", "read_bytes", "exists"):
        original = getattr(LocalLocation, name)

        def counted(self, path="", _original=original, _name=name):
            asked.append((_name, path))
            return _original(self, path)

        monkeypatch.setattr(LocalLocation, name, counted)
    layout = read_source(open_location(str(root)), "plate")
    assert len(layout.arrays) == 8
    assert [call for call in asked if call[0] != "read_bytes"] == [("list_files", "")]
    read = [path for name, path in asked if name == "read_bytes"]
    assert sorted(read) == sorted(str(p.relative_to(root)) for p in root.rglob("zarr.json"))


def test_an_array_below_a_link_to_a_folder_is_refused(tmp_path):
    """The listing does not follow links to folders: an array below one would be converted
    with none of its chunk files."""
    from v05_inputs import image

    root = image(tmp_path / "in.ome.zarr", labels=False)
    (root / "1").rename(tmp_path / "elsewhere")
    (root / "1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SourceError, match=r"in.ome.zarr/1/zarr.json: there, but not in the list"):
        read_source(open_location(str(root)), "linked")
