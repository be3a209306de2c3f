"""The summary a run ends with: each failure's reason on one line, its paths shortened and its
advice whole (results/failed.tsv keeps the reason as it was)."""

from __future__ import annotations

import pandas as pd

from ngff_resave.report.catalog import summary
from ngff_resave.report.failures import BRIEF_LIMIT, brief_reason, last_error_line

WORKDIR = "/data/project/run-7"
FOREIGN = (
    f"dataset 'plate' of working directory {WORKDIR}: output {WORKDIR}/results/ome-zarr/"
    "plate.ome.zarr is not empty and holds files this workflow did not write (A/1/0/0/.zarray, "
    "A/1/0/1/.zarray, A/1/1/0/.zarray, A/1/1/1/.zarray, A/2/0/0/.zarray, A/2/0/1/.zarray, "
    "A/2/1/0/.zarray, A/2/1/1/.zarray and 109 more); the workflow writes only into an empty "
    "location or one holding a dataset it made for the same row: move those files away or "
    "choose another output"
)
HELD = (
    f"dataset 'b' of working directory {WORKDIR}: output /shared/out/b.ome.zarr is being "
    "written by dataset 'a' of working directory /home/someone/else/with/a/long/path "
    "(input /archive/inputs/some/very/deep/folder/a.ome.zarr; run "
    "process-node17.cluster.example.org-23249 on host node17.cluster.example.org, process "
    "23249, since 2026-05-01 10:00:00), a run that is still going; wait for it to end or give "
    "one of the rows another output"
)


def test_a_list_of_paths_becomes_its_first_and_a_count_and_the_advice_stays():
    said = brief_reason(FOREIGN, "plate", WORKDIR)
    assert said == (
        "output results/ome-zarr/plate.ome.zarr is not empty and holds files this workflow did "
        "not write (A/1/0/0/.zarray and 116 more); the workflow writes only into an empty "
        "location or one holding a dataset it made for the same row: move those files away or "
        "choose another output"
    )


def test_a_claim_is_said_by_its_host_process_and_time_and_the_advice_stays():
    said = brief_reason(HELD, "b", WORKDIR)
    assert "(host node17.cluster.example.org, process 23249, since 2026-05-01 10:00:00)" in said
    assert "/archive/inputs" not in said and "run process-" not in said
    assert said.endswith("wait for it to end or give one of the rows another output")
    assert not said.startswith("dataset 'b'")


def test_a_reason_still_too_long_loses_its_middle_not_its_advice():
    reason = "cannot read " + ", ".join(f"/x/{i}" * 5 for i in range(60)) + "; set overwrite: true"
    said = brief_reason(reason)
    assert len(said) <= BRIEF_LIMIT and said.endswith("…; set overwrite: true")
    assert brief_reason("one\n  line  at   a time") == "one line at a time"


def test_the_summary_keeps_each_reasons_advice(monkeypatch):
    monkeypatch.chdir("/")
    failures = [
        {"dataset": "plate", "rule": "plan", "failure": "input defect", "error": FOREIGN},
        {"dataset": "b", "rule": "pack", "failure": "conversion failure", "error": HELD},
    ]
    frame = pd.DataFrame({"dataset": ["plate", "b", "c"], "valid": [False, False, True]})
    text = summary(frame, failures, "results/catalog.csv", "results/failed.tsv", None)
    lines = text.splitlines()
    assert lines[0] == "ngff-resave: 1 of 3 datasets converted and valid; 2 failed."
    plate = next(line for line in lines if line.startswith("  FAILED plate"))
    assert plate.endswith("move those files away or choose another output")
    assert "(A/1/0/0/.zarray and 116 more)" in plate
    held = next(line for line in lines if line.startswith("  FAILED b (conversion failure"))
    assert held.endswith("wait for it to end or give one of the rows another output")
    assert "run again: only what failed is redone" in text
    nothing = summary(frame, [], "results/catalog.csv", "results/failed.tsv", None, ran=False)
    assert nothing.splitlines()[-1] == "  conversion cost: none, this run had nothing to do"


def test_a_dead_jobs_last_error_line_loses_the_log_format(tmp_path):
    log = tmp_path / "pack.log"
    log.write_text(
        "ngff-resave job, attempt 1\n"
        "2026-12-07 09:08:37,079 ERROR ngff_resave: IsADirectoryError: [Errno 21] Is a "
        "directory: 'logs/plate/pack.log'\n"
    )
    assert last_error_line(log) == (
        "IsADirectoryError: [Errno 21] Is a directory: 'logs/plate/pack.log'"
    )
