import json
import shutil

import pytest
from conftest import FIXTURE_KINDS

from ngff_resave.source.layout import SourceError, read_source
from ngff_resave.source.mends import find_and_mend
from ngff_resave.storage import open_location


def layout_of(path, dataset="d"):
    return read_source(open_location(str(path)), dataset)


def test_example_kinds(examples):
    image = layout_of(examples["image-with-labels"])
    assert image.kind == "image"
    assert [i.path for i in image.images] == ["", "labels/cells"]
    assert image.images[1].is_label
    assert {"", "labels", "labels/cells"} <= set(image.groups)
    plate = layout_of(examples["plate"])
    assert plate.kind == "plate" and plate.wells == 4
    assert len([i for i in plate.images]) == 8
    assert {"A", "A/1", "A/1/0"} <= set(plate.groups)
    assert {a.dimension_separator for a in plate.arrays} == {"."}
    bf2raw = layout_of(examples["bioformats2raw"])
    assert bf2raw.kind == "bioformats2raw"
    assert bf2raw.files == ["OME/METADATA.ome.xml"]
    assert {a.dtype for a in bf2raw.arrays} == {">u2", "<f4"}


def test_challenge_fixture_kinds(challenge_fixtures):
    for name, kind in FIXTURE_KINDS.items():
        layout = layout_of(challenge_fixtures / f"{name}.zarr")
        assert layout.kind == kind, name
    hcs = layout_of(challenge_fixtures / "hcs.zarr")
    assert "OME" in hcs.groups and hcs.files == ["OME/METADATA.ome.xml"]


def test_series_without_ome_zattrs_are_found_by_number(example_copy):
    root = example_copy("bioformats2raw")
    (root / "OME" / ".zattrs").unlink()
    assert [i.path for i in layout_of(root).images] == ["0", "1"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: shutil.rmtree(r / "1"), r"/1: listed in multiscales but has no .zarray"),
        (lambda r: (r / ".zattrs").write_text("{}"), "not OME-Zarr"),
        (lambda r: (r / ".zattrs").write_text("{oops"), "not valid JSON"),
        (lambda r: (r / ".zgroup").unlink(), r"no Zarr v2 group here"),
        (lambda r: _set_version(r, "0.5"), r"version 0.5 in Zarr v2; versions 0.1 to 0.4"),
        (lambda r: _set_dtype(r / "0", "|S4"), "not a plain numeric type"),
        (lambda r: _set_field(r / "1", "shape", [1, 2, 3, 38.5, 33]), r"/1: .zarray shape \["),
        (lambda r: _set_field(r / "1", "shape", [1, 2, 3, 38.0, 33]), "list of integers"),
        (lambda r: _set_field(r / "0", "chunks", [1, 2, 3, 0, 64]), r".zarray chunks .*least 1"),
    ],
)
def test_bad_inputs_name_dataset_and_path(example_copy, damage, message):
    root = example_copy("image-with-labels")
    damage(root)
    with pytest.raises(SourceError, match=message) as info:
        layout_of(root, "broken")
    assert "dataset 'broken'" in str(info.value)
    assert str(root) in str(info.value)


def _set_version(root, version):
    attrs = json.loads((root / ".zattrs").read_text())
    attrs["multiscales"][0]["version"] = version
    (root / ".zattrs").write_text(json.dumps(attrs))


def _set_dtype(array, dtype):
    _set_field(array, "dtype", dtype)


def _set_field(array, key, value):
    meta = json.loads((array / ".zarray").read_text())
    meta[key] = value
    (array / ".zarray").write_text(json.dumps(meta))


def test_chunks_under_an_undeclared_separator_are_found_from_the_listing(example_copy):
    root = example_copy("plate")  # '.' keys
    meta = json.loads((root / "A" / "1" / "0" / "0" / ".zarray").read_text())
    meta["dimension_separator"] = "/"
    (root / "A" / "1" / "0" / "0" / ".zarray").write_text(json.dumps(meta))
    layout = layout_of(root, "plate")
    array = next(a for a in layout.arrays if a.path == "A/1/0/0")
    assert array.listing is not None and array.listing.separator == "."
    findings = find_and_mend(layout)
    assert [(f.rule, f.path) for f in findings] == [("chunk key separator", "A/1/0/0")]
    assert array.dimension_separator == "." and array.declared_separator == "/"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({}, r"Zarr v3 \(zarr.json\) without OME-Zarr metadata"),
        ({"ome": {"version": "0.5", "multiscales": []}}, r"no multiscales in its attributes"),
        ({"ome": {"version": "0.6", "multiscales": []}}, r"no multiscales in its attributes"),
        ({"ome": {"version": "0.6.dev1", "multiscales": []}}, r"a pre-release of 0.6 that is not"),
        ({"ome": {"version": "0.6", "scene": {}}}, r"an OME-Zarr 0.6 scene .* is not read"),
        ({"ome": {"version": "0.4-x", "multiscales": []}}, r"OME-Zarr version '0.4-x' in Zarr v3"),
        ({"multiscales": [{"version": "0.4", "axes": [], "datasets": []}]}, "no arrays found"),
    ],
)
def test_zarr_v3_inputs_that_cannot_be_read_say_why(tmp_path, attributes, message):
    document = {"zarr_format": 3, "node_type": "group", "attributes": attributes}
    (tmp_path / "zarr.json").write_text(json.dumps(document))
    with pytest.raises(SourceError, match=message) as info:
        layout_of(tmp_path, "v3")
    assert "dataset 'v3'" in str(info.value) and str(tmp_path) in str(info.value)


def test_a_zarr_v3_node_inside_a_zarr_v2_dataset_is_named(example_copy):
    root = example_copy("image-with-labels")
    (label,) = json.loads((root / "labels" / ".zattrs").read_text())["labels"]
    (root / "labels" / label / ".zgroup").unlink()
    (root / "labels" / label / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    with pytest.raises(SourceError, match=rf"labels/{label}: a Zarr v3 node \(zarr.json\) inside"):
        layout_of(root)


@pytest.mark.parametrize("value", ["2", 2.0, True, None])
def test_a_zarr_format_that_is_not_the_integer_2_is_named(example_copy, value):
    root = example_copy("image-with-labels")
    meta = json.loads((root / "1" / ".zarray").read_text())
    meta["zarr_format"] = value
    (root / "1" / ".zarray").write_text(json.dumps(meta))
    with pytest.raises(
        SourceError,
        match=r"dataset 'd': .*/1: .zarray has zarr_format "
        rf"{json.dumps(value)}; a Zarr v2 array must say "
        "the integer 2",
    ):
        layout_of(root)


def test_a_zero_size_array_is_named(example_copy):
    root = example_copy("image-with-labels")
    meta = json.loads((root / "2" / ".zarray").read_text())
    meta["shape"][3] = 0
    (root / "2" / ".zarray").write_text(json.dumps(meta))
    with pytest.raises(
        SourceError,
        match=r"dataset 'd': .*/2: array of shape \[.*0.*\] holds "
        "no pixels",
    ):
        layout_of(root)


def test_a_plate_on_a_remote_store_has_its_metadata_read_concurrently(examples):
    """A plate's wells, fields and levels are documents read many at once where requests are
    remote; the layout is the same as read one by one."""
    import threading
    import time
    from dataclasses import dataclass, field

    from ngff_resave.storage import LocalLocation

    @dataclass(frozen=True)
    class SlowStore(LocalLocation):
        """Real files, each request taking a round trip, with the most in flight recorded."""

        state: dict = field(default_factory=lambda: {"now": 0, "most": 0}, compare=False)
        lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

        @property
        def io_concurrency(self) -> int:
            return 8

        def read_bytes(self, path: str) -> bytes | None:
            with self.lock:
                self.state["now"] += 1
                self.state["most"] = max(self.state["most"], self.state["now"])
            time.sleep(0.002)
            try:
                return super().read_bytes(path)
            finally:
                with self.lock:
                    self.state["now"] -= 1

    remote = SlowStore(str(examples["plate"]))
    layout = read_source(remote, "plate")
    assert remote.state["most"] > 1
    local = read_source(open_location(str(examples["plate"])), "plate")
    assert layout.arrays == local.arrays and layout.groups == local.groups
