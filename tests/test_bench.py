"""The benchmark's own pieces (the full run is `make bench`, never a timed test)."""

import importlib.util
import os
import sys

from conftest import REPO

spec = importlib.util.spec_from_file_location("benchmark", REPO / "bench" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
sys.modules["benchmark"] = benchmark  # dataclasses look their module up there
spec.loader.exec_module(benchmark)


def test_byte_copy_reads_and_writes_every_file(tmp_path):
    source = tmp_path / "in"
    (source / "a" / "b").mkdir(parents=True)
    (source / "a" / "b" / "0").write_bytes(b"\x00\x01" * 1000)
    (source / ".zattrs").write_text("{}")
    benchmark.byte_copy(source, tmp_path / "out")
    assert (tmp_path / "out" / "a" / "b" / "0").read_bytes() == b"\x00\x01" * 1000
    assert (tmp_path / "out" / ".zattrs").read_text() == "{}"


def test_table_ratios_and_readme_markers(tmp_path):
    figures = [
        benchmark.Figure("a. copy", 2.0, 2**20),
        benchmark.Figure("b. ours", 1.0, 2**21, written=1234567),
        benchmark.Figure("d. challenge", 8.0, 2**30),
    ]
    text = benchmark.table(figures, 10**9, 5 * 10**8, 3, 2)
    row = next(line for line in text.splitlines() if line.startswith("| b. ours"))
    assert row.split("|")[2].strip() == "1.0"
    assert row.split("|")[5].strip() == "1,234,567"  # bytes written
    assert row.split("|")[6].strip() == "8.00"  # x faster than d
    assert row.split("|")[7].strip() == "0.50"  # time / a
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:start -->\nold\n<!-- bench:end -->\nrest\n")
    benchmark.update_readme(readme, "new table\n")
    assert readme.read_text() == (
        "intro\n<!-- bench:start -->\nnew table\n<!-- bench:end -->\nrest\n"
    )


def test_new_bytes_leave_out_the_inputs_own_files(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "chunk").write_bytes(b"x" * 1000)
    output = tmp_path / "out"
    output.mkdir()
    os.link(source / "chunk", output / "linked")
    (output / "zarr.json").write_bytes(b"{}" * 10)
    (output / "symbolic").symlink_to(source / "chunk")
    expected = 20 + (output / "symbolic").lstat().st_size
    assert benchmark.new_bytes(output, source) == expected


def test_the_benchmark_plans_as_the_workflow_does(examples, tmp_path):
    from ngff_resave.model.plan import read_plan

    path = benchmark.make_plan(
        examples["image-with-labels"], tmp_path, "keep", tmp_path / "out.ome.zarr"
    )
    plan = read_plan(path)
    assert plan is not None and plan.dataset == "bench"
    assert {a.mode for a in plan.arrays} == {"copy"} and plan.jobs
    path = benchmark.make_plan(
        examples["image-with-labels"], tmp_path, "keep", tmp_path / "out.ome.zarr", "reference"
    )
    plan = read_plan(path)
    assert plan is not None and {a.mode for a in plan.arrays} == {"reference"}
