"""The plan read whole, its digest of the pixels kept once made, and the summary the catalog
reads of it."""

from __future__ import annotations

import json

from conftest import settings_for

from ngff_resave.model.plan import (
    InventoryItem,
    Plan,
    PlanSummary,
    read_plan,
    read_plan_summary,
)
from ngff_resave.records.ownership import Run
from ngff_resave.sheet.plan import plan_row


def _plan(examples, tmp_path) -> Plan:
    settings = settings_for("img", examples["image-with-labels"], tmp_path / "o.ome.zarr")
    return plan_row(settings, Run.current(tmp_path / "results"))


def test_the_pixels_digest_follows_every_change_of_the_plan(examples, tmp_path):
    plan = _plan(examples, tmp_path)
    first = plan.pixels_digest()
    read = Plan.model_validate_json(plan.to_bytes())
    assert plan.pixels_digest() == first == read.pixels_digest()
    plan.output = str(tmp_path / "elsewhere.ome.zarr")
    moved = plan.pixels_digest()
    assert moved != first
    assert plan.model_copy(update={"output": str(tmp_path / "third")}).pixels_digest() not in (
        first,
        moved,
    )
    deep = plan.model_copy(deep=True)
    deep.arrays[0].input.chunks = [1] * len(deep.arrays[0].input.chunks)
    # A part changed in place after a copy: the copy digests itself afresh.
    assert deep.pixels_digest() != moved
    plan.notes = "metadata only"
    assert plan.pixels_digest() == moved


def test_the_summary_reads_what_the_catalog_needs_of_the_plan(examples, tmp_path):
    plan = _plan(examples, tmp_path)
    plan.inventory = [
        *plan.inventory,
        InventoryItem(path="notes.txt", kind="file", action="skip", reason="not OME-Zarr"),
    ]
    path = tmp_path / "plan.json"
    path.write_bytes(plan.to_bytes())
    whole, summary = read_plan(path), read_plan_summary(path)
    assert whole is not None and summary is not None
    for name in ("dataset", "input", "output", "kind", "name", "wells", "images", "mends"):
        assert getattr(summary, name) == getattr(whole, name), name
    assert summary.skipped == whole.skipped == [plan.inventory[-1]]
    # Of the inventory only what the catalog names: not every converted node.
    assert summary.inventory == summary.skipped and len(whole.inventory) > 1
    first = next(a for a in whole.arrays if a.image == whole.images[0] and a.level == 0)
    mine = summary.first_level
    assert (mine.path, mine.image, mine.level, mine.shape, mine.dtype, mine.mode) == (
        first.path,
        first.image,
        first.level,
        first.shape,
        first.dtype,
        first.mode,
    )
    assert mine.sharded == first.sharded
    assert (mine.output.chunks, mine.output.shards) == (first.output.chunks, first.output.shards)
    assert summary.array_count == len(whole.arrays)
    assert summary.levels == 1 + max(a.level for a in whole.arrays)
    assert summary.modes == sorted({str(a.mode) for a in whole.arrays})
    # As a job makes it from the plan in memory, to record with the outcome.
    assert PlanSummary.of(whole) == summary
    other = json.loads(plan.to_bytes())
    other["format"] = 2
    path.write_text(json.dumps(other))
    assert read_plan_summary(path) is None and read_plan(path) is None


def _v3_plan(tmp_path) -> Plan:
    """A plan with Zarr v3 input arrays, as for a 0.5 plate upgraded in place: many arrays, a
    few distinct input documents."""
    base = {
        "format": 4,
        "planner": {"name": "ngff-resave", "version": "0"},
        "dataset": "p",
        "input": str(tmp_path / "p.ome.zarr"),
        "output": str(tmp_path / "p.ome.zarr"),
        "input_storage": {},
        "output_storage": {},
        "kind": "plate",
        "name": None,
        "wells": 3,
        "images": [f"A/{n}/0" for n in range(3)],
        "labels": [],
        "groups": {"": {}},
        "files": [],
        "jobs": [],
        "bytes": 0,
        "crate": None,
        "notes": None,
        "origin": None,
    }
    arrays = []
    for n in range(3):
        for level, side in ((0, 64), (1, 32)):
            document = {
                "zarr_format": 3,
                "node_type": "array",
                "shape": [side, side],
                "data_type": "uint16",
                "fill_value": 0,
                "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            }
            arrays.append(
                {
                    "path": f"A/{n}/0/s{level}",
                    "image": f"A/{n}/0",
                    "level": level,
                    "shape": [side, side],
                    "dtype": "<u2",
                    "dimension_names": ["y", "x"],
                    "input": {
                        "chunks": [side, side],
                        "compressor": None,
                        "filters": None,
                        "order": "C",
                        "fill_value": 0,
                        "dimension_separator": "/",
                        "zarr_format": 3,
                        "document": document,
                    },
                    "output": {
                        "chunks": [side, side],
                        "shards": [side, side],
                        "codecs": document["codecs"],
                        "order": "C",
                        "as_input": True,
                    },
                    "mode": "reference",
                    "reason": "Zarr v3 already",
                    "bytes": side * side * 2,
                    "shards": 1,
                    "shard_bytes": side * side * 2,
                }
            )
    return Plan.model_validate({**base, "arrays": arrays})


def test_arrays_share_their_input_documents_in_the_file_and_keep_them_when_read(tmp_path):
    plan = _v3_plan(tmp_path)
    data = plan.to_bytes()
    written = json.loads(data)
    # Two distinct documents (one per level) for six arrays, each written once.
    assert [d["shape"] for d in written["documents"]] == [[64, 64], [32, 32]]
    assert [a["input"]["document"] for a in written["arrays"]] == [
        {"$document": 0},
        {"$document": 1},
    ] * 3
    # And their output codecs: one list for all six (both levels have the same).
    assert written["output_codecs"] == [plan.arrays[0].output.codecs]
    assert [a["output"]["codecs"] for a in written["arrays"]] == [[{"$codecs": 0}]] * 6
    read = Plan.model_validate_json(data)
    assert read.documents == [] and read.output_codecs == []
    assert [a.input.document for a in read.arrays] == [a.input.document for a in plan.arrays]
    assert [a.output.codecs for a in read.arrays] == [a.output.codecs for a in plan.arrays]
    assert read.to_bytes() == data
    # The digest of the pixels is that of the plan with its documents in full, as before.
    assert read.pixels_digest() == plan.pixels_digest()
    inline = json.loads(data)
    for array in inline["arrays"]:
        array["input"]["document"] = inline["documents"][array["input"]["document"]["$document"]]
        array["output"]["codecs"] = inline["output_codecs"][0]
    del inline["documents"], inline["output_codecs"]
    older = Plan.model_validate_json(json.dumps(inline))  # a plan written before sharing
    assert older.pixels_digest() == plan.pixels_digest() and older.to_bytes() == data


def test_a_plan_naming_a_document_it_does_not_have_is_planned_again(tmp_path):
    for wrong in (7, -1, "0", None):
        data = json.loads(_v3_plan(tmp_path).to_bytes())
        data["arrays"][0]["input"]["document"] = {"$document": wrong}
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(data))
        assert read_plan(path) is None, wrong
        data = json.loads(_v3_plan(tmp_path).to_bytes())
        data["arrays"][0]["output"]["codecs"] = [{"$codecs": wrong}]
        path.write_text(json.dumps(data))
        assert read_plan(path) is None, wrong
