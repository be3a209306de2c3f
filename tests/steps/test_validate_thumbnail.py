"""A dataset's thumbnail is drawn while the dataset is validated (a core is idle much of that
time), and recorded only for a valid dataset, as before: an invalid one ends without any."""

from __future__ import annotations

import logging
import threading

import zarr
from conftest import run_pipeline, settings_for

from ngff_resave.model.plan import digest
from ngff_resave.report.thumbnails import THUMBNAIL_FILE, render_dataset
from ngff_resave.steps import validate as step
from ngff_resave.storage import open_location


def test_the_thumbnail_is_drawn_beside_validation_and_kept_for_a_valid_dataset(
    examples, tmp_path, monkeypatch
):
    run = run_pipeline(
        settings_for("image", examples["image-with-labels"], tmp_path / "o.ome.zarr"),
        tmp_path / "r",
    )
    drawn_in: list[threading.Thread] = []

    def drawing(output):
        drawn_in.append(threading.current_thread())
        return render_dataset(output)

    monkeypatch.setattr(step, "render_dataset", drawing)
    outcome = step.validate_plan(
        run.plan, digest(run.plan.to_bytes()), "full", 8, 2, "pack", "log", run.records, tmp_path
    )
    assert outcome.valid
    assert drawn_in and drawn_in[0] is not threading.main_thread()
    expected = render_dataset(open_location(str(tmp_path / "o.ome.zarr")))
    assert (tmp_path / "image" / THUMBNAIL_FILE).read_bytes() == expected.png()
    assert outcome.thumbnail == expected.shows


def test_an_invalid_dataset_ends_without_a_thumbnail_and_without_a_warning(
    examples, tmp_path, caplog
):
    run = run_pipeline(
        settings_for("image", examples["image-with-labels"], tmp_path / "o.ome.zarr"),
        tmp_path / "r",
    )
    array = zarr.open_array(str(tmp_path / "o.ome.zarr" / "1"), mode="r+")
    array[0, 0, 0, 5, 5] = array[0, 0, 0, 5, 5] + 1
    older = tmp_path / "image" / THUMBNAIL_FILE
    older.parent.mkdir()
    older.write_bytes(b"an older thumbnail")
    with caplog.at_level(logging.WARNING):
        outcome = step.validate_plan(
            run.plan,
            digest(run.plan.to_bytes()),
            "full",
            8,
            2,
            "pack",
            "log",
            run.records,
            tmp_path,
        )
    assert not outcome.valid
    assert not older.exists()
    assert outcome.thumbnail == ""
    assert "no thumbnail" not in caplog.text
