"""Plans keep their bytes and digests: a finished dataset whose plan file or pixels digest
changed would be converted again, for every user, so how a plan is written is pinned here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import v05_inputs
from conftest import settings_for

from ngff_resave.model.plan import Plan, Planner
from ngff_resave.records.ownership import Run
from ngff_resave.sheet.plan import plan_row


def _made(name: str, examples: dict[str, Path], tmp_path: Path) -> Plan:
    if name == "v3 plate in place":
        source = v05_inputs.plate(tmp_path / "in" / "plate.ome.zarr")
        settings = settings_for("plate", source, source, in_place=True, ngff_version="0.6")
    elif name == "v3 image re-encoded":
        source = v05_inputs.image(tmp_path / "in" / "image.ome.zarr")
        settings = settings_for("image", source, tmp_path / "out", codec="zstd-3")
    else:
        settings = settings_for("img", examples["image-with-labels"], tmp_path / "out")
    plan = plan_row(settings, Run.current(tmp_path / "results"))
    # What depends on where the test runs and on the planner's version, made fixed; a shallow
    # copy: the arrays are the planner's own objects, shared as it shared them.
    return plan.model_copy(
        update={
            "input": "/input",
            "output": "/output",
            "planner": Planner(name="ngff-resave", version="pinned"),
            "settings_digest": "",
            "pixel_settings_digest": "",
        }
    )


# sha256 of the plan file's bytes, and the pixels digest, as plans were written when pinned.
PINNED = {
    "v3 plate in place": (
        "def5b8b72eaa9cdf038267a8495dc6d83924d3e5e2c760529cf38115712d8659",
        "247cb1a7113919af1857552c625f933792045eff3130b2a65dccdc1c1f7bef10",
    ),
    "v3 image re-encoded": (
        "885fc9209cf73abc293c3fca23731e0035e260e5b7e6379606009a5dce11e6b2",
        "98bbaf1378fc9c350fdb2c1a64ab3bfb4cf983124bee308d46741014d2175ffe",
    ),
    "v2 image with labels": (
        "86f4df5bbb7a8e8bef5c69fbbdbe9038a127913c93797cf532b10ac631dd6651",
        "4b78bc322ac1f3f6b4f8566be9de9e015e0ae5a251bdd2db25ad63619472f848",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_plan_keeps_its_bytes_and_digests(
    name: str, examples: dict[str, Path], tmp_path: Path
) -> None:
    plan = _made(name, examples, tmp_path)
    data = plan.to_bytes()
    assert str(tmp_path).encode() not in data
    assert (hashlib.sha256(data).hexdigest(), plan.pixels_digest()) == PINNED[name]
    # Read back, the same bytes and digest.
    read = Plan.model_validate_json(data)
    assert read.to_bytes() == data
    assert read.pixels_digest() == plan.pixels_digest()


def test_arrays_planned_from_one_document_share_its_codecs(
    examples: dict[str, Path], tmp_path: Path
) -> None:
    # Shared, a plan is written with a look-up of each array's codecs by identity, not a JSON
    # dump of each (a plate's thousands).
    plan = _made("v3 plate in place", examples, tmp_path)
    codecs = {id(array.output.codecs) for array in plan.arrays}
    documents = {id(array.input.document) for array in plan.arrays}
    assert len(plan.arrays) == 8 and len(codecs) == len(documents) == 2
    # A list that is not valid as it is, is still validated into one that is.
    given = [{"name": "bytes", "configuration": {"endian": "little"}}]
    output = plan.arrays[0].output
    assert type(output).model_validate({**output.model_dump(), "codecs": given}).codecs is given
    with pytest.raises(ValueError, match="codecs"):
        type(output).model_validate({**output.model_dump(), "codecs": [("name", "bytes")]})
