"""The Snakemake report: the test configuration (.test/) run end to end, its report built as
.zip and .html and read back; thumbnails against a reference rendering made here from the
output read by tensorstore; the challenge's per-array statistics against the files on disk."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tensorstore as ts
import zarr
from conftest import REPO, snakemake_command
from PIL import Image

from ngff_resave.cli.examples import write_examples
from ngff_resave.ome.challenge_stats import STATS_KEY
from ngff_resave.report.pictures import placeholder
from ngff_resave.report.thumbnails import (
    GREY_PERCENTILES,
    render_dataset,
    render_image,
)
from ngff_resave.storage import open_location

pytestmark = pytest.mark.workflow

VALID = ["image-with-labels", "plate", "bioformats2raw"]
FAILING = "not-ome-zarr"


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = snakemake_command(workdir)
    command[command.index("--configfile") + 1] = str(workdir / "config" / "config.yaml")
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def test_config_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's .test/ configuration run as CI would, then its reports built."""
    workdir = tmp_path_factory.mktemp("dot-test") / "run"
    shutil.copytree(REPO / ".test", workdir)
    write_examples(workdir / "data" / "examples")
    result = run(workdir)
    # One row fails by design: the run says so and ends with an error.
    assert result.returncode != 0
    assert "datasets converted and valid; 1 failed." in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "WorkflowError" not in result.stderr
    for name in ("report.zip", "report.html"):
        built = run(workdir, "--report", name)
        assert built.returncode == 0, built.stderr[-3000:]
    return workdir


def embedded(page: str, name: str) -> Any:
    found = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', page, re.S)
    assert found, f"no {name} in the report page"
    return json.loads(found.group(1))


def table_rows(page: str) -> list[list[str]]:
    """The cells of an HTML page's table rows (the standard library's parser)."""

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell).strip())
                self.cell = None

    parser = Cells()
    parser.feed(page)
    return parser.rows


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_test_config_converts_the_examples_and_records_the_failing_row(test_config_run):
    catalog = pd.read_csv(test_config_run / "results" / "catalog.csv", dtype=str)
    assert sorted(catalog["dataset"]) == sorted([*VALID, FAILING])
    valid = dict(zip(catalog["dataset"], catalog["valid"], strict=True))
    assert all(valid[d] == "True" for d in VALID) and valid[FAILING] == "False"
    failed = pd.read_csv(test_config_run / "results" / "failed.tsv", sep="\t")
    assert list(failed["dataset"]) == [FAILING]


def test_report_zip_has_a_thumbnail_and_a_validation_page_per_dataset_and_the_catalog(
    test_config_run,
):
    results = test_config_run / "results"
    with zipfile.ZipFile(test_config_run / "report.zip") as archive:
        page = archive.read("report/report.html").decode()
        categories = embedded(page, "categories")
        entries = embedded(page, "results")

        def item(path: str) -> bytes:
            return archive.read("report/" + entries[path]["data_uri"])

        thumbnails = categories["Datasets"]["Thumbnails"]
        pages = categories["Datasets"]["Validation"]
        assert len(thumbnails) == len(pages) == 4
        for path in thumbnails:
            dataset = Path(path).stem
            png = item(path)
            assert png == (results / "report" / "thumbnails" / f"{dataset}.png").read_bytes()
            labels = entries[path]["labels"]
            assert labels["dataset"] == dataset
            assert labels["valid"] == ("no" if dataset == FAILING else "yes")
            if dataset != FAILING:
                # The thumbnail the validating job drew from the output.
                assert png == (results / dataset / "thumbnail.png").read_bytes()
                assert labels["mode"] == "copy" and float(labels["MB/s"]) > 0
        for path in pages:
            dataset = Path(path).stem
            html = item(path).decode()
            if dataset == FAILING:
                assert "failed or not valid" in html and "does not exist" in html
                continue
            outcome = json.loads((results / dataset / "validation.json").read_text())
            assert "data:image/png;base64," in html
            assert f"{len(outcome['checks'])} of {len(outcome['checks'])} checks passed" in html
            for check in outcome["checks"]:
                assert check["check"].replace("&", "&amp;") in html
        catalog_items = categories["Catalog"]["Other"]
        assert sorted(Path(p).name for p in catalog_items) == ["catalog.csv", "catalog.html"]
        table = next(item(p).decode() for p in catalog_items if p.endswith(".html"))
    header, *rows = table_rows(table.split("</table>", 1)[0])
    assert header == list(pd.read_csv(results / "catalog.csv").columns)
    assert sorted(row[header.index("dataset")] for row in rows) == sorted([*VALID, FAILING])
    assert 'class="dataframe sortable"' in table and "addEventListener" in table


def test_report_html_embeds_the_same_thumbnails(test_config_run):
    page = (test_config_run / "report.html").read_text()
    entries = embedded(page, "results")
    categories = embedded(page, "categories")
    for path in categories["Datasets"]["Thumbnails"]:
        data = base64.b64decode(entries[path]["data_uri"].split("base64,", 1)[1])
        assert data == (test_config_run / path).read_bytes()
    assert "validated every" in page  # the workflow description


def test_thumbnails_differ_between_datasets(test_config_run):
    folder = test_config_run / "results" / "report" / "thumbnails"
    images = {p.stem: pixels(p.read_bytes()) for p in folder.glob("*.png")}
    names = sorted(images)
    for i, one in enumerate(names):
        for other in names[i + 1 :]:
            a, b = images[one], images[other]
            assert a.shape != b.shape or not np.array_equal(a, b), (one, other)


def read_level(root: Path, path: str) -> np.ndarray:
    """An output array read by tensorstore (not the zarr-python the thumbnails use)."""
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(root / path)}}
    return ts.open(spec, read=True).result().read().result()


def reference_image(root: Path, image: str = "") -> tuple[np.ndarray, dict[str, Any]]:
    """The lowest level, middle z, first t, coloured by the omero settings: RGB in [0, 1]."""
    attrs = json.loads((root / image / "zarr.json").read_text())["attributes"]["ome"]
    lowest = attrs["multiscales"][0]["datasets"][-1]["path"]
    data = read_level(root, f"{image}/{lowest}" if image else lowest)
    plane = data[0, :, data.shape[2] // 2].astype(float)
    rgb = np.zeros(plane.shape[1:] + (3,))
    for channel, settings in zip(plane, attrs["omero"]["channels"], strict=True):
        start, end = settings["window"]["start"], settings["window"]["end"]
        colour = np.array([int(settings["color"][i : i + 2], 16) for i in (0, 2, 4)]) / 255
        rgb += np.clip((channel - start) / (end - start), 0, 1)[..., None] * colour
    return np.round(np.clip(rgb, 0, 1) * 255), attrs


def shrink(thumbnail: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo the whole-factor enlargement: one pixel per source pixel."""
    factor = thumbnail.shape[0] // shape[0]
    assert thumbnail.shape[:2] == (shape[0] * factor, shape[1] * factor)
    return thumbnail[::factor, ::factor].astype(float)


def test_image_thumbnail_matches_a_reference_rendering_and_shows_its_labels(test_config_run):
    root = test_config_run / "results" / "ome-zarr" / "image-with-labels.ome.zarr"
    expected, _ = reference_image(root)
    png = (root.parents[1] / "image-with-labels" / "thumbnail.png").read_bytes()
    drawn = shrink(pixels(png), expected.shape)
    label_level = read_level(root, "labels/cells/2")
    assert label_level.shape[-2:] == expected.shape[:2]
    labels = label_level[0, 0, label_level.shape[2] // 2]
    labelled = labels != 0
    assert labelled.any() and (~labelled).any()
    # Unlabelled pixels: the image as rendered here, to rounding.
    assert np.abs(drawn[~labelled] - expected[~labelled]).max() <= 1
    # Labelled pixels: painted over, visibly.
    assert np.abs(drawn[labelled] - expected[labelled]).mean() > 20


def test_series_thumbnail_matches_a_reference_rendering(test_config_run):
    root = test_config_run / "results" / "ome-zarr" / "bioformats2raw.ome.zarr"
    expected, _ = reference_image(root, "0")
    drawn = pixels((root.parents[1] / "bioformats2raw" / "thumbnail.png").read_bytes())
    assert np.abs(shrink(drawn, expected.shape) - expected).max() <= 1


def test_plate_thumbnail_is_a_grid_of_its_wells(test_config_run):
    root = test_config_run / "results" / "ome-zarr" / "plate.ome.zarr"
    plate = json.loads((root / "zarr.json").read_text())["attributes"]["ome"]["plate"]
    drawn = pixels((root.parents[1] / "plate" / "thumbnail.png").read_bytes())
    background = np.all(drawn == drawn[0, 0], axis=2)
    rows, columns = len(plate["rows"]), len(plate["columns"])
    height, width = drawn.shape[0] // rows, drawn.shape[1] // columns
    for well in plate["wells"]:
        top, left = well["rowIndex"] * height, well["columnIndex"] * width
        cell = ~background[top : top + height, left : left + width]
        ys, xs = np.nonzero(cell)
        tile = drawn[top + ys.min() : top + ys.max() + 1, left + xs.min() : left + xs.max() + 1]
        expected, _ = reference_image(root, f"{well['path']}/0")
        assert np.abs(shrink(tile, expected.shape) - expected).max() <= 1, well["path"]


def test_greyscale_auto_contrast_without_omero_settings():
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    data = np.arange(4 * 30 * 20, dtype="uint16").reshape(1, 4, 30, 20) * 7
    group.create_array("0", data=data)
    axes = [
        {"name": n, "type": t}
        for n, t in zip("czyx", ["channel", "space", "space", "space"], strict=True)
    ]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}],
    }
    thumbnail = render_image(group, 512, min_side=1)
    plane = data[0, 2].astype(float)
    low, high = np.percentile(plane, GREY_PERCENTILES)
    expected = np.round(np.clip((plane - low) / (high - low), 0, 1) * 255)
    assert np.array_equal(thumbnail.pixels[..., 0], thumbnail.pixels[..., 2])
    assert np.abs(thumbnail.pixels[..., 0] - expected).max() <= 1
    assert "greyscale" in thumbnail.shows


def test_huge_planes_are_sampled_every_nth_pixel():
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    data = (np.arange(3000 * 1200) % 251).astype("uint8").reshape(3000, 1200)
    group.create_array("0", data=data, chunks=(500, 500))
    axes = [{"name": "Y", "type": "space"}, {"name": "X", "type": "space"}]
    group.attrs["ome"] = {"multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}]}
    thumbnail = render_image(group, 512)
    assert thumbnail.pixels.shape == (500, 200, 3) and "every 6th pixel" in thumbnail.shows
    sampled = data[::6, ::6].astype(float)
    low, high = np.percentile(sampled, GREY_PERCENTILES)
    expected = np.round(np.clip((sampled - low) / (high - low), 0, 1) * 255)
    assert np.abs(thumbnail.pixels[..., 1] - expected).max() <= 1


def test_nan_pixels_are_black_and_the_rest_is_stretched():
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    data = np.linspace(0, 1, 64 * 64).reshape(64, 64).astype("float32")
    data[:8] = np.nan
    group.create_array("0", data=data)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {"multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}]}
    pixels = render_image(group, 512, min_side=1).pixels
    assert (pixels[:8] == 0).all() and pixels[8:].max() == 255


def test_many_label_values_each_get_a_colour():
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.create_array("0", data=np.full((200, 200), 100, dtype="uint16"))
    group.attrs["ome"] = {"multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}]}
    labels = group.create_group("labels")
    labels.attrs["ome"] = {"labels": ["cells"]}
    cells = labels.create_group("cells")
    values = np.arange(200 * 200, dtype="uint32").reshape(200, 200) % 20000
    cells.create_array("0", data=values)
    cells.attrs["ome"] = {
        "multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}],
        "image-label": {"colors": [{"label-value": 1, "rgba": [255, 0, 0, 255]}]},
    }
    pixels = render_image(group, 512, min_side=1).pixels
    # A flat image has no contrast: black; label 0 leaves it so.
    assert pixels[0, 0].tolist() == [0, 0, 0]
    # Label 1 in its given colour (red) at half opacity.
    assert pixels[0, 1].tolist() == [128, 0, 0]
    # The others in generated colours, far apart for neighbouring values.
    assert len({tuple(p) for p in pixels.reshape(-1, 3)}) > 500
    assert np.abs(pixels[0, 2].astype(int) - pixels[0, 3]).sum() > 60


def test_placeholder_says_why():
    card = placeholder("dataset 'x': no picture, the dataset failed.")
    assert card.pixels.shape == (160, 320, 3) and card.pixels.std() > 0


def test_a_dataset_that_is_not_an_image_is_refused(tmp_path):
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=3)
    with pytest.raises(ValueError, match="no image, plate or bioformats2raw layout"):
        render_dataset(open_location(str(tmp_path / "g.zarr")))


def test_challenge_statistics_equal_the_shard_bytes_on_disk(test_config_run):
    """What the challenge's catalog script sums per image (each level's ``written``) equals
    the bytes of that level's shard files; its other fields are there too."""
    results = test_config_run / "results"
    for dataset in VALID:
        root = results / "ome-zarr" / f"{dataset}.ome.zarr"
        plan = json.loads((results / dataset / "plan.json").read_text())
        levels = [root / array["path"] for array in plan["arrays"]]
        assert levels
        for level in levels:
            document = json.loads((level / "zarr.json").read_text())
            stats = document["attributes"][STATS_KEY]
            on_disk = sum(
                p.stat().st_size for p in level.rglob("*") if p.is_file() and p.name != "zarr.json"
            )
            assert stats["written"] == on_disk > 0, level
            assert stats["read"] > 0 and stats["stop"] >= stats["start"] > 0
            assert {"input", "output", "elapsed", "threads", "cpu_count"} <= set(stats)
