import math

import pytest

from ngff_resave.arrays.shards import shard_count, shard_slices
from ngff_resave.model.plan import InputArray, PlanError, PlannedArray
from ngff_resave.planning.dataset import PlanSettings, grow_shards, make_plan, plan_jobs
from ngff_resave.planning.details import details_key, match_details, write_details
from ngff_resave.source.layout import read_source
from ngff_resave.storage import open_location

AXES = ["t", "c", "z", "y", "x"]


@pytest.mark.parametrize(
    ("shape", "chunks", "target"),
    [
        ((1, 3, 10, 5000, 7000), (1, 1, 1, 1024, 1024), 64 * 2**20),
        ((1, 1, 1, 100, 130), (1, 1, 1, 64, 64), 64 * 2**20),
        ((2, 4, 64, 300, 300), (1, 1, 16, 128, 128), 2**20),
        ((1, 1, 1, 30, 30), (1, 1, 1, 64, 64), 64 * 2**20),  # chunk larger than the level
        ((1, 1, 1, 1, 1), (1, 1, 1, 1, 1), 1),
    ],
)
def test_shards_are_whole_multiples_of_chunks_and_within_target(shape, chunks, target):
    shards = grow_shards(list(shape), list(chunks), 2, target, AXES)
    assert all(s % c == 0 for s, c in zip(shards, chunks, strict=True))
    # never beyond the chunks covering the array
    assert all(s <= -(-n // c) * c for s, n, c in zip(shards, shape, chunks, strict=True))
    assert math.prod(shards) * 2 <= max(target, math.prod(chunks) * 2)


def test_shards_grow_spatial_axes_first_and_cover_small_levels_whole():
    shards = grow_shards([1, 3, 1, 300, 260], [1, 1, 1, 64, 64], 2, 64 * 2**20, AXES)
    assert shards[3:] == [320, 320]  # 5 chunks in y and x: one shard covers the level
    assert shards == [1, 3, 1, 320, 320]
    # x, y and z take turns doubling; t and c only grow once space is used up
    big = grow_shards([4, 3, 100, 8192, 8192], [1, 1, 1, 1024, 1024], 2, 32 * 2**20, AXES)
    assert big == [1, 1, 2, 2048, 4096]
    flat = grow_shards([4, 3, 1, 256, 256], [1, 1, 1, 128, 128], 2, 2**20, AXES)
    assert flat == [2, 3, 1, 256, 256]


def test_jobs_split_a_level_into_shard_aligned_parts_covering_every_shard_once():
    # Only the fields planning jobs reads.
    sizes = [(f"img{i}/0", 0, 1000 * n, n, 1000) for i, n in enumerate([7, 3, 11])]
    arrays = [
        PlannedArray.model_construct(
            path=p,
            level=lv,
            bytes=b,
            shards=n,
            shard_bytes=sb,
            mode="copy",
            input=InputArray.model_construct(present=None, files_found=None),
        )
        for p, lv, b, n, sb in [*sizes, ("img0/1", 1, 500, 1, 500)]
    ]
    jobs = plan_jobs(arrays, part_target_bytes=5000)
    level0 = [j for j in jobs if j.level == 0]
    assert [j.id for j in jobs] == [f"0-{i}" for i in range(len(level0))] + ["1-0"]
    assert len(level0) == math.ceil(21000 / 5000)
    for array in arrays[:3]:
        ranges = sorted(p.shards for j in level0 for p in j.arrays if p.path == array.path)
        covered = [i for lo, hi in ranges for i in range(lo, hi)]
        assert covered == list(range(array.shards))
    assert sum(j.bytes for j in level0) == 21000


def test_referenced_arrays_are_cut_into_jobs_by_their_links_not_their_bytes():
    from ngff_resave.model.plan import OutputArray
    from ngff_resave.planning.dataset import LINK_WORK_BYTES

    # A 1 TB level of 1 MB chunks (2**20 chunk files), in blocks of 64 chunks.
    big = PlannedArray.model_construct(
        path="0",
        level=0,
        shape=[2**20, 2**20],
        bytes=2**40,
        shards=2**14,
        shard_bytes=2**26,
        mode="reference",
        output=OutputArray.model_construct(chunks=[1024, 1024], shards=[8192, 8192]),
    )
    in_place = plan_jobs([big], part_target_bytes=16 * 2**30, in_place=True)
    assert [(j.id, j.bytes, j.arrays[0].shards) for j in in_place] == [("0-0", 0, (0, 2**14))]
    linked = plan_jobs([big], part_target_bytes=16 * 2**30)
    assert len(linked) == math.ceil(2**20 * LINK_WORK_BYTES / (16 * 2**30)) == 4
    assert sum(j.bytes for j in linked) == 2**20 * LINK_WORK_BYTES
    ranges = [p.shards for j in linked for p in j.arrays]
    assert [i for lo, hi in ranges for i in range(lo, hi)] == list(range(2**14))


def test_one_job_per_level_for_a_whole_plate(examples):
    layout = read_source(open_location(str(examples["plate"])), "plate")
    plan = make_plan(layout, PlanSettings("plate", str(examples["plate"]), "/tmp/out"))
    assert [j.id for j in plan.jobs] == ["0-0", "1-0"]
    assert len(plan.jobs[0].arrays) == len(plan.images) == 8


def test_shard_slices_tile_the_array():
    shape, shards = [5, 7], [2, 3]
    seen = set()
    for index in range(shard_count(shape, shards)):
        region = shard_slices(shape, shards, index)
        seen |= {
            (y, x)
            for y in range(region[0].start, region[0].stop)
            for x in range(region[1].start, region[1].stop)
        }
    assert len(seen) == 35


def test_sheet_shards_must_be_a_multiple_of_chunks(examples):
    layout = read_source(open_location(str(examples["image-with-labels"])), "img")
    settings = PlanSettings(
        "img",
        str(examples["image-with-labels"]),
        "/tmp/o",
        chunks=[1, 1, 1, 64, 64],
        shards=[1, 1, 1, 96, 128],
    )
    with pytest.raises(PlanError, match=r"dataset 'img', array 0: shards .* not a whole multiple"):
        make_plan(layout, settings)


def test_details_round_trip_overrides_single_arrays(examples):
    source = str(examples["image-with-labels"])
    layout = read_source(open_location(source), "img")
    plan = make_plan(layout, PlanSettings("img", source, "/tmp/o"))
    details = write_details(plan)
    assert details_key(source, "labels/cells/0") in details
    # edit one array, as a user would, written on another machine (different prefix)
    edited = {k.replace(source, "/elsewhere/in.zarr"): v for k, v in details.items()}
    edited["/elsewhere/in.zarr/0"] = {
        "shape": [1, 2, 3, 150, 130],
        "chunks": [1, 1, 1, 64, 64],
        "shards": [1, 1, 1, 128, 128],
    }
    replanned = make_plan(layout, PlanSettings("img", source, "/tmp/o", details=edited))
    by_path = {a.path: a for a in replanned.arrays}
    assert by_path["0"].output.shards == [1, 1, 1, 128, 128]
    before = {a.path: a for a in plan.arrays}
    assert by_path["labels/cells/0"].output == before["labels/cells/0"].output
    with pytest.raises(PlanError, match="names no array"):
        match_details({"/x/in.zarr/9": {}}, layout.arrays, "img")


def test_plan_records_mode_and_reason_for_every_array(examples):
    source = str(examples["bioformats2raw"])
    plan = make_plan(
        read_source(open_location(source), "b"),
        PlanSettings("b", source, "/tmp/o", codec="blosc-zstd-5"),
    )
    for array in plan.arrays:
        assert array.mode in ("copy", "reencode")
        assert array.reason
        assert array.output.codecs[0]["name"] == "blosc"
        assert array.input.chunks and array.output.shards
