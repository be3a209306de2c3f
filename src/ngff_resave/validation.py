"""Validation of a converted dataset: OME-Zarr 0.5 metadata through the ``ome-zarr-models`` v05
classes, every array against its plan and its input's values, and the RO-Crate."""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import zarr
from ome_zarr_models import v05

from ngff_resave.crate import CRATE_FILE, check_crate
from ngff_resave.shards import shard_slices
from ngff_resave.storage import Location

LOG = logging.getLogger(__name__)


@dataclass
class Report:
    dataset: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, check: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"check": check, "ok": bool(ok), "detail": detail})
        (LOG.info if ok else LOG.error)("%s: %s%s", "ok" if ok else "FAILED", check,
                                        f" ({detail})" if detail else "")
        return ok

    def run(self, check: str, action: Callable[[], Any]) -> None:
        """Run a model validation; any exception or warning it raises is the failure detail."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                action()
            except Exception as err:  # noqa: BLE001 - every failure is reported, not raised
                self.add(check, False, f"{type(err).__name__}: {err}"[:2000])
                return
        self.add(check, True)

    @property
    def valid(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        failed = [c["check"] for c in self.checks if not c["ok"]]
        return {"dataset": self.dataset, "valid": self.valid, "failed": failed,
                "checks": self.checks}


def _validate_models(plan: dict[str, Any], root: zarr.Group, report: Report) -> None:
    """Every OME group of the output through the ome-zarr-models v05 class of its kind."""
    kind = plan["kind"]
    groups: list[tuple[str, Any, str]] = []
    if kind.endswith("plate"):
        groups.append(("HCS (plate, wells, fields)", v05.HCS, ""))
        wells = sorted({image.rsplit("/", 1)[0] for image in plan["images"]})
        groups += [(f"Well {well}", v05.Well, well) for well in wells]
    if kind == "image":
        groups.append(("Image", v05.Image, ""))
    groups += [(f"Image {image}", v05.Image, image) for image in plan["images"] if image]
    for label in plan["labels"]:
        labels_group = label.rsplit("/", 1)[0]
        groups += [(f"Labels {labels_group}", v05.Labels, labels_group),
                   (f"ImageLabel {label}", v05.ImageLabel, label)]
    if kind.startswith("bioformats2raw"):
        report.run("ome-zarr-models v05 BioFormats2Raw",
                   lambda: v05.bioformats2raw.BioFormats2RawAttrs.model_validate(
                       root.attrs["ome"]))
    for name, model, path in dict.fromkeys(groups):
        report.run(f"ome-zarr-models v05 {name}", partial(_load_model, model, root, path))


def _load_model(model: Any, root: zarr.Group, path: str) -> Any:
    node = root[path] if path else root
    if not isinstance(node, zarr.Group):
        raise TypeError(f"{path} is an array, expected a group")
    return model.from_zarr(node)


def _regions(array: dict[str, Any], mode: str, rng: random.Random, sample: int) -> Iterator[
    tuple[slice, ...]
]:
    """Full mode: every output shard. Sample mode: ``sample`` random input chunks."""
    if mode == "full":
        shards = array["output"]["shards"]
        for index in range(array["shards"]):
            yield shard_slices(array["shape"], shards, index)
        return
    chunks = array["input"]["chunks"]
    grid = [-(-s // c) for s, c in zip(array["shape"], chunks, strict=True)]
    total = int(np.prod(grid))
    for index in sorted(rng.sample(range(total), min(sample, total))):
        yield shard_slices(array["shape"], chunks, index)


def _compare_pixels(plan: dict[str, Any], source: Location, target: Location, mode: str,
                    sample: int, seed: int, threads: int, report: Report) -> None:
    rng = random.Random(seed)
    if mode == "sample":
        LOG.info("sample mode: %d random input chunks per array, seed %d", sample, seed)
    source_store = source.zarr_store(read_only=True)
    target_store = target.zarr_store(read_only=True)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for array in plan["arrays"]:
            _compare_array(array, source, target, source_store, target_store, mode, rng,
                           sample, pool, report)


def _compare_array(array: dict[str, Any], source: Location, target: Location,
                   source_store: Any, target_store: Any, mode: str, rng: random.Random,
                   sample: int, pool: ThreadPoolExecutor, report: Report) -> None:
    expected = zarr.open_array(source_store, path=array["path"], mode="r", zarr_format=2)
    got = zarr.open_array(target_store, path=array["path"], mode="r", zarr_format=3)
    meta = got.metadata
    # Byte order is a storage detail (the bytes codec); the value type must match.
    same_type = (np.dtype(got.dtype).newbyteorder("=")
                 == np.dtype(expected.dtype).newbyteorder("="))
    shape_ok = (list(got.shape) == array["shape"] and same_type
                and list(got.shards or ()) == array["output"]["shards"]
                and list(got.chunks) == array["output"]["chunks"])
    report.add(f"array {array['path']}: shape, dtype, chunks, shards as planned", shape_ok,
               f"shape {list(got.shape)}, dtype {got.dtype}, chunks {list(got.chunks)}, "
               f"shards {list(got.shards or ())}")
    names = list(getattr(meta, "dimension_names", None) or [])
    report.add(f"array {array['path']}: dimension_names equal the axes",
               names == array["dimension_names"], ",".join(map(str, names)))
    check = f"array {array['path']}: values equal the input ({mode})"
    equal_nan = np.dtype(expected.dtype).kind == "f"

    def differs(region: tuple[slice, ...]) -> str:
        try:
            same = np.array_equal(expected[region], got[region], equal_nan=equal_nan)
        except Exception as err:  # noqa: BLE001 - an unreadable chunk is a failed check
            return (f"cannot read [{_spell(region)}] of {source.child(array['path'])} or "
                    f"{target.child(array['path'])}: {type(err).__name__}: {err}")
        return "" if same else f"first difference in [{_spell(region)}]"

    regions = list(_regions(array, mode, rng, sample))
    problems = [p for p in pool.map(differs, regions) if p]
    report.add(check, not problems, problems[0] if problems else
               f"{len(regions)} regions compared")


def _spell(region: tuple[slice, ...]) -> str:
    return ",".join(f"{s.start}:{s.stop}" for s in region)


def validate_dataset(plan: dict[str, Any], mode: str = "full", sample: int = 8,
                     seed: int | None = None, threads: int = 2) -> Report:
    """Check the converted dataset of a plan; never raises for an invalid dataset."""
    report = Report(plan["dataset"])
    source = Location.from_text(plan["input"], plan.get("input_storage"))
    target = Location.from_text(plan["output"], plan.get("output_storage"))
    root_json = target.read_json("zarr.json")
    version = ((root_json or {}).get("attributes", {}).get("ome", {}) or {}).get("version")
    if not report.add("root zarr.json has ome.version 0.5", version == "0.5",
                      f"{target.child('zarr.json')}: version {version!r}"):
        return report
    root = zarr.open_group(target.zarr_store(read_only=True), mode="r", zarr_format=3)
    _validate_models(plan, root, report)
    for path in plan["files"]:
        report.add(f"file {path} copied", source.read_bytes(path) == target.read_bytes(path))
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    _compare_pixels(plan, source, target, mode, sample, seed, threads, report)
    if mode == "sample":
        report.checks.append({"check": "sample seed", "ok": True, "detail": str(seed)})
    if plan.get("crate"):
        document = target.read_json(CRATE_FILE)
        if report.add("crate: ro-crate-metadata.json present", document is not None):
            assert document is not None
            for check, ok, detail in check_crate(document, plan["crate"]):
                report.add(check, ok, detail)
    return report
