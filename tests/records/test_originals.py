"""In place over OME-Zarr 0.5 (Zarr v3): the input's documents the upgrade replaces are kept in
one archive at the dataset's root, outside the Zarr hierarchy (zarr-python lists only the
dataset's own nodes), restorable by ``restore-in-place`` and by ``tar`` by hand. An upgrade
killed (SIGKILL) while it replaces documents never leaves a node reading the new version above
one reading the old; the next run's withdraw puts every document back, the rerun finishes
valid, and the restore gives back the input byte for byte, leaving nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import v05_inputs
import zarr
from conftest import convert_row, read_json, settings_for

from ngff_resave.cli.main import main
from ngff_resave.model.plan import read_plan
from ngff_resave.records.originals import (
    ABSENT,
    ABSENT_LIST,
    INPUT_STATE,
    ORIGINALS,
    ORIGINALS_ARCHIVE,
    REPLACED_STATE,
    STATE,
    keep_originals,
    mark_replacing,
    pack,
    read_kept_document,
    read_originals,
    unpack,
    withdraw_root,
)
from ngff_resave.records.ownership import CLAIM_FILE, Run, claim_plan_output
from ngff_resave.sheet.plan import plan_sheet
from ngff_resave.storage import TEMPORARY_NAME, Location, StorageError, open_location

ROW = {"ngff_version": "0.6", "mode": "reference", "in_place": True}

# Runs one dataset's pack (convert, metadata, validate) as a job does, or the withdraw a rerun
# starts with, or restore-in-place; SIGKILLed by itself just before the rename that would
# finish the Nth write (inside the dataset) of a file named NAME: the file written under its
# temporary name is left, as a killed writer leaves it.
KILLED_JOB = """
import os, signal, sys
from pathlib import Path

name, nth, root, results, what = sys.argv[1:6]
nth = int(nth)
rename = os.replace
seen = 0

def replace(source, target, *args, **kwargs):
    global seen
    if str(target).startswith(root + "/") and os.path.basename(target) == name:
        seen += 1
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)
    return rename(source, target, *args, **kwargs)

os.replace = replace
if what == "pack":
    from ngff_resave.steps.pack import run_dataset

    run_dataset("d", Path(results), Path(results) / "logs", 1, "full", 8)
elif what == "restore":
    from ngff_resave.cli.main import main

    main(["restore-in-place", root])
else:
    from ngff_resave.model.plan import read_plan
    from ngff_resave.records.originals import withdraw_root
    from ngff_resave.storage import open_location

    plan = read_plan(Path(results) / "d" / "plan.json")
    withdraw_root(plan, open_location(plan.output, plan.output_storage))
print("not killed")
"""


def everything(root: Path) -> tuple[dict[str, bytes], set[str]]:
    """Every file below ``root`` with its bytes, and every folder."""
    found = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    folders = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir()}
    return found, folders


def chunk_times(root: Path) -> dict[str, int]:
    """The modification time of every file but the documents (chunks and shards)."""
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and p.name != "zarr.json"
    }


def node_versions(root: Path) -> dict[str, str | None]:
    """Each node's ``attributes.ome.version`` (None without one), from its zarr.json file."""
    versions = {}
    for path in root.rglob("zarr.json"):
        relative = str(path.parent.relative_to(root))
        node = "" if relative == "." else relative
        versions[node] = (read_json(path).get("attributes", {}).get("ome") or {}).get("version")
    return versions


def zarr_versions(root: Path) -> dict[str, str | None]:
    """What zarr-python finds walking the hierarchy from its root: every member, each
    group's ``attributes.ome.version``."""
    group = zarr.open_group(str(root), mode="r", zarr_format=3)
    found = {"": (group.attrs.get("ome") or {}).get("version")}
    for name, node in group.members(max_depth=None):
        found[name] = (
            (node.attrs.get("ome") or {}).get("version")
            if isinstance(node, zarr.Group)
            else "array"
        )
    return found


def assert_no_new_above_old(root: Path, old: str, new: str) -> None:
    """A node that reads as the new version has only new nodes below it (the root reads new
    only when every node does)."""
    versions = node_versions(root)
    for node, version in versions.items():
        if version != new:
            continue
        below = {
            n: v for n, v in versions.items() if (node in ("", n) or n.startswith(f"{node}/")) and v
        }
        assert set(below.values()) == {new}, (node, below)
    assert {v for v in versions.values() if v} <= {old, new}


def counted_reads(monkeypatch: pytest.MonkeyPatch, location: Location) -> list[str]:
    """The paths ``location``'s backend reads from now on, in order."""
    reads: list[str] = []
    real = type(location).read_bytes

    def counted(self, path):  # type: ignore[no-untyped-def]
        reads.append(path)
        return real(self, path)

    monkeypatch.setattr(type(location), "read_bytes", counted)
    return reads


def make_plan(tmp_path: Path, source: Path) -> Path:
    results = tmp_path / "results"
    results.mkdir(parents=True, exist_ok=True)
    sheet = plan_sheet([settings_for("d", source, source, **ROW)], results)
    (results / "plan.json").write_bytes(sheet.to_bytes())
    return results


def killed(tmp_path: Path, source: Path, name: str, nth: int, what: str = "pack") -> str:
    """Run the job in a process of its own, SIGKILLed at the Nth write of ``name``."""
    results = tmp_path / "results"
    if what == "pack":
        results = make_plan(tmp_path, source)
    done = subprocess.run(
        [sys.executable, "-c", KILLED_JOB, name, str(nth), str(source), str(results), what],
        cwd=os.getcwd(),  # the same working directory, so the same row holds the claim
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (-signal.SIGKILL, 0), done.stderr[-3000:]
    return "killed" if done.returncode == -signal.SIGKILL else done.stdout.strip()


def assert_restored(source: Path, before: tuple[dict[str, bytes], set[str]], times: dict) -> None:
    assert main(["restore-in-place", str(source)]) == 0
    after = everything(source)
    assert set(after[0]) == set(before[0])  # no temporary file, no archive, no claim left
    assert after[0] == before[0]
    assert after[1] == before[1]  # and no folder
    assert chunk_times(source) == times  # chunks and shards never written


@pytest.mark.parametrize("kind", ["plate", "image"])
def test_kept_originals_are_no_node_of_the_upgraded_dataset(tmp_path, kind):
    make = v05_inputs.plate if kind == "plate" else v05_inputs.image
    source = make(tmp_path / "in.zarr")
    before, times = everything(source), chunk_times(source)
    nodes = set(zarr_versions(source))
    row = convert_row(tmp_path, source, source, **ROW)
    assert row["valid"] == "True", row["error"]
    upgraded = zarr_versions(source)
    # Only the dataset's own nodes (and the groups Zarr v3 needs above a plate's wells, which
    # the input lacked and zarr-python could not walk through), each group 0.6.
    plan = read_plan(tmp_path / "results" / "d" / "plan.json")
    assert plan is not None
    assert set(upgraded) == {"", *plan.groups, *(a.path for a in plan.arrays)} >= nodes
    assert not [name for name in upgraded if ".ngff-resave" in name]
    assert {v for v in upgraded.values() if v != "array"} <= {"0.6", None}
    assert upgraded[""] == "0.6"
    # One file beside the hierarchy: a gzipped tar of the input's documents, read by the
    # standard library as by tar.
    assert not (source / ORIGINALS).exists()
    with tarfile.open(source / ORIGINALS_ARCHIVE) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive}  # type: ignore[union-attr]
    absent = members.pop(ABSENT_LIST).decode().split()
    assert {".ngff-resave.json", "ro-crate-metadata.json"} <= set(absent)
    for name, data in members.items():
        assert before[0][name] == data
    for name in absent:
        assert name not in before[0]
    # Restored by hand as the README says, in a copy: the input byte for byte.
    by_hand = tmp_path / "by-hand"
    shutil.copytree(source, by_hand, symlinks=True)
    script = (
        f"tar -xzf {ORIGINALS_ARCHIVE} --exclude={ABSENT_LIST}"
        f" && tar -xzOf {ORIGINALS_ARCHIVE} {ABSENT_LIST} | tr '\\n' '\\0' | xargs -0 rm -f"
        f" && rm {ORIGINALS_ARCHIVE}"
    )
    subprocess.run(["sh", "-c", script], cwd=by_hand, check=True)
    assert everything(by_hand) == before
    # And by the command.
    assert_restored(source, before, times)


def test_a_killed_in_place_upgrade_never_reads_as_a_mix_and_is_restored_exactly(tmp_path):
    source = v05_inputs.plate(tmp_path / "plate.zarr")
    before, times = everything(source), chunk_times(source)
    input_documents = {k: v for k, v in before[0].items() if k.endswith("zarr.json")}
    # Where the job is killed: writing its claim; writing the archive; the first, a middle and
    # the last document below the root (fields, wells and rows are replaced from the leaves
    # up); the crate; the root (every other document new by then).
    points = [
        (".ngff-resave.json", 1),
        (ORIGINALS_ARCHIVE, 1),
        ("zarr.json", 1),
        ("zarr.json", 6),
        ("zarr.json", 10),
        ("ro-crate-metadata.json", 1),
        ("zarr.json", 11),
    ]
    for number, (name, nth) in enumerate(points):
        work = tmp_path / f"kill-{number}"
        assert killed(work, source, name, nth) == "killed", (name, nth)
        # A reader sees no node of 0.6 above one of 0.5; the root still reads 0.5.
        assert_no_new_above_old(source, "0.5", "0.6")
        assert node_versions(source)[""] == "0.5"
        if name == "zarr.json" and nth > 1:
            assert "0.6" in node_versions(source).values()  # killed while replacing indeed
        plan = read_plan(work / "results" / "d" / "plan.json")
        assert plan is not None
        if number == 3:
            # The withdraw a rerun starts with, itself killed after the root went back.
            assert killed(work, source, "zarr.json", 2, what="withdraw") == "killed"
            assert_no_new_above_old(source, "0.5", "0.6")
        # What a rerun does first: every replaced document put back, not only the root. The
        # hierarchy reads as its input everywhere, byte for byte.
        withdraw_root(plan, open_location(str(source)))
        documents = {k: v for k, v in everything(source)[0].items() if k.endswith("zarr.json")}
        assert documents == input_documents
        assert set(zarr_versions(source).values()) <= {"0.5", None, "array"}
        if number == 2:
            # Restored straight after the kill: exact, the killed write's temporary file gone.
            assert_restored(source, before, times)
            continue
        # The rerun (planned again: the input read from the archive) finishes valid, all 0.6.
        row = convert_row(work / "rerun", source, source, **ROW)
        assert row["valid"] == "True", row["error"]
        assert row["input_version"] == "0.5"
        assert {v for v in node_versions(source).values() if v} == {"0.6"}
        assert not [p for p in everything(source)[0] if TEMPORARY_NAME.match(Path(p).name)]
        if number == 4:
            # A restore killed on the way is finished by the next.
            assert killed(work, source, "zarr.json", 3, what="restore") == "killed"
            assert_no_new_above_old(source, "0.5", "0.6")
        assert_restored(source, before, times)


def test_the_first_kept_documents_stand_and_a_rerun_reads_them_in_one_request(
    tmp_path, monkeypatch
):
    source = v05_inputs.plate(tmp_path / "plate.zarr")
    before = everything(source)
    assert convert_row(tmp_path / "a", source, source, **ROW)["valid"] == "True"
    archive = (source / ORIGINALS_ARCHIVE).read_bytes()
    # Back to 0.5, then 0.6 again: the archive is not written again, and each plan reads the
    # input's own documents from it.
    for version in ("0.5", "0.6"):
        row = convert_row(tmp_path / version, source, source, **{**ROW, "ngff_version": version})
        assert row["valid"] == "True", row["error"]
        assert row["input_version"] == "0.5"
        assert (source / ORIGINALS_ARCHIVE).read_bytes() == archive
    location = open_location(str(source))
    reads = counted_reads(monkeypatch, location)
    kept = read_originals(location)
    assert reads == [ORIGINALS_ARCHIVE]
    assert kept is not None
    assert {k: v for k, v in kept.items() if v is not None} == {
        k: v for k, v in before[0].items() if k in kept
    }
    # Withdrawn once (every document read and compared), the claim says so: the withdraw at
    # the start of the next job reads the claim only.
    plan = read_plan(tmp_path / "0.6" / "results" / "d" / "plan.json")
    assert plan is not None
    withdraw_root(plan, location)
    assert node_versions(source)[""] == "0.5"
    reads.clear()
    withdraw_root(plan, location)
    assert reads == [".ngff-resave.json"]


def test_datasets_upgraded_with_the_earlier_folder_of_copies_are_restored_and_moved(tmp_path):
    """The earlier layout kept copies under .ngff-resave-original/ (a document the input lacked
    marked ``.absent``): restore-in-place still restores them, and a rerun moves them into the
    archive."""
    for how in ("restore", "rerun"):
        source = v05_inputs.plate(tmp_path / how / "plate.zarr")
        before, times = everything(source), chunk_times(source)
        assert convert_row(tmp_path / how, source, source, **ROW)["valid"] == "True"
        kept = read_originals(open_location(str(source)))
        assert kept is not None
        (source / ORIGINALS_ARCHIVE).unlink()
        for path, data in kept.items():
            if path == ".ngff-resave.json":
                continue  # that layout kept a claim only when it was the input's
            copy = source / ORIGINALS / (path if data is not None else path + ABSENT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(data or b"")
        # A killed copy's temporary file, which the earlier restore copied back.
        leftover = source / ORIGINALS / "A" / "1" / f".zarr.json.{'0' * 32}.tmp"
        leftover.write_bytes(b"{")
        assert "0.5" in {v for v in zarr_versions(source).values()}  # the copies read as nodes
        if how == "rerun":
            row = convert_row(tmp_path / how / "again", source, source, **ROW)
            assert row["valid"] == "True", row["error"]
            assert row["input_version"] == "0.5"
            assert not (source / ORIGINALS).exists()
            assert not [n for n in zarr_versions(source) if ".ngff-resave" in n]
            assert (
                json.loads((source / "zarr.json").read_bytes())["attributes"]["ome"]["version"]
                == "0.6"
            )
        assert_restored(source, before, times)


def test_an_archive_member_that_is_no_kept_document_is_refused():
    """Restoring writes every member into the dataset: only the documents the workflow
    replaces, below the dataset, are accepted."""
    kept = {"zarr.json": b"{}", "A/zarr.json": None, ".ngff-resave.json": b"{}"}
    assert unpack(pack(kept), "here") == kept
    for path in ("../zarr.json", "/etc/zarr.json", "A/0/c/0/0", "A/../../zarr.json"):
        with pytest.raises(StorageError, match="not a document this workflow keeps"):
            unpack(pack({path: b"x"}), "here")
    with pytest.raises(StorageError, match="not an archive"):
        unpack(b"not a tar", "here")


def test_one_kept_document_is_read_from_the_archive_the_crate_first(tmp_path):
    """The crate leads the archive (read without unpacking a plate's thousands of documents),
    the root next, the claim last; a document not kept, or kept as absent, reads as None."""
    kept = {
        "zarr.json": b'{"root": 1}',
        "B/zarr.json": None,
        "A/zarr.json": b'{"a": 1}',
        "ro-crate-metadata.json": b'{"crate": 1}',
        ".ngff-resave.json": b'{"claim": 1}',
    }
    (tmp_path / ORIGINALS_ARCHIVE).write_bytes(pack(kept))
    with tarfile.open(tmp_path / ORIGINALS_ARCHIVE) as archive:
        names = archive.getnames()
    assert names == [
        "ro-crate-metadata.json",
        "zarr.json",
        "A/zarr.json",
        ".ngff-resave.json",
        ABSENT_LIST,
    ]
    location = open_location(str(tmp_path))
    for path in (*kept, "C/zarr.json"):
        assert read_kept_document(location, path) == kept.get(path), path
    (tmp_path / ORIGINALS_ARCHIVE).write_bytes(b"not a tar")
    with pytest.raises(StorageError, match="not an archive"):
        read_kept_document(location, "zarr.json")


def test_the_first_archive_stands_and_only_gains_documents_a_new_plan_replaces(tmp_path):
    root = tmp_path / "d"
    (root / "A").mkdir(parents=True)
    (root / "zarr.json").write_bytes(b'{"input": "root"}')
    (root / "A" / "zarr.json").write_bytes(b'{"input": "A"}')
    location = open_location(str(root))
    kept, written, untouched = keep_originals(location, ["zarr.json", ".ngff-resave.json"])
    assert kept == {"zarr.json": b'{"input": "root"}', ".ngff-resave.json": None}
    assert written and untouched
    first = (root / ORIGINALS_ARCHIVE).read_bytes()
    (root / "zarr.json").write_bytes(b'{"new": "root"}')  # replaced by the run
    # The same documents again: nothing written; the archive's, not what is there now.
    assert keep_originals(location, ["zarr.json"]) == (kept, 0, False)
    assert (root / ORIGINALS_ARCHIVE).read_bytes() == first
    # A plan that also replaces A: added as it is (never replaced), the rest as first kept.
    kept, written, untouched = keep_originals(location, ["zarr.json", "A/zarr.json"])
    assert kept["zarr.json"] == b'{"input": "root"}' and kept["A/zarr.json"] == b'{"input": "A"}'
    assert written and not untouched
    assert read_originals(location) == kept
    assert main(["restore-in-place", str(root)]) == 0
    assert sorted(p.name for p in root.rglob("*")) == ["A", "zarr.json", "zarr.json"]
    assert (root / "zarr.json").read_bytes() == b'{"input": "root"}'


def test_a_claim_on_an_input_never_replaced_says_so_and_its_jobs_read_nothing_back(
    tmp_path, monkeypatch
):
    """The first job of an in-place run marks the input's documents as its own in the claim;
    every job's withdraw then reads the claim alone, not the archive and every document."""
    source = v05_inputs.plate(tmp_path / "plate.zarr")
    results = make_plan(tmp_path, source)
    plan = read_plan(results / "d" / "plan.json")
    assert plan is not None
    location = open_location(str(source))
    claim_plan_output(plan, location, Run.current(results))
    assert read_json(source / CLAIM_FILE)[STATE] == INPUT_STATE
    reads = counted_reads(monkeypatch, location)
    withdraw_root(plan, location)
    assert reads == [CLAIM_FILE]
    # Taken again (the next run of the row), the claim keeps what it says of the documents:
    # here replaced, as the metadata step leaves it once it kept them and began to replace.
    keep_originals(location, ["zarr.json"])
    mark_replacing(location)
    claim_plan_output(plan, location, Run.current(tmp_path / "next"))
    assert read_json(source / CLAIM_FILE)[STATE] == REPLACED_STATE


def test_the_run_puts_back_what_a_job_killed_outright_had_replaced(tmp_path):
    """The Snakemake process outlives a killed job: at the run's end (``onerror``) it puts
    back every document the job had replaced, so the dataset reads as its input everywhere."""
    from ngff_resave.records.originals import put_back_after_crash

    source = v05_inputs.plate(tmp_path / "plate.zarr")
    before = everything(source)
    input_documents = {k: v for k, v in before[0].items() if k.endswith("zarr.json")}
    assert killed(tmp_path, source, "zarr.json", 6) == "killed"
    assert len(set(node_versions(source).values()) - {None}) == 2  # a mix, for now
    assert put_back_after_crash(tmp_path / "results", ["d", "not-planned"]) == ["d"]
    documents = {k: v for k, v in everything(source)[0].items() if k.endswith("zarr.json")}
    assert documents == input_documents
    assert set(zarr_versions(source).values()) <= {"0.5", None, "array"}


# The sitecustomize of a virtual environment made for the test, whose python runs Snakemake
# and so its jobs (the rules put Snakemake's python first on PATH): the pack job, and only it,
# SIGKILLs itself just before the Nth rename of a file NAME inside the dataset ROOT.
KILL_HOOK = """
import os, signal, sys

_root, _name, _nth = os.environ["NGFF_RESAVE_TEST_KILL"].split("|")
_rename = os.replace
_seen = [0]


def _replace(source, target, *args, **kwargs):
    if sys.argv[1:2] == ["pack"] and os.path.abspath(target).startswith(_root + "/"):
        if os.path.basename(target) == _name:
            _seen[0] += 1
            if _seen[0] == int(_nth):
                os.kill(os.getpid(), signal.SIGKILL)
    return _rename(source, target, *args, **kwargs)


os.replace = _replace
"""


def python_with_kill_hook(folder: Path) -> Path:
    """A virtual environment that sees this one's packages and loads KILL_HOOK."""
    import site
    import venv

    venv.create(folder, with_pip=False)
    (packages,) = (folder / "lib").glob("python*/site-packages")
    (packages / "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (packages / "sitecustomize.py").write_text(KILL_HOOK)
    return folder / "bin" / "python"


@pytest.mark.workflow
def test_a_run_whose_in_place_job_is_killed_ends_with_the_input_everywhere(tmp_path):
    from conftest import REPO, snakemake

    workdir = tmp_path / "work"
    source = v05_inputs.plate(workdir / "inputs" / "plate.ome.zarr")
    input_documents = {k: v for k, v in everything(source)[0].items() if k.endswith("zarr.json")}
    (workdir / "samples.tsv").write_text(
        "dataset\tinput\tmode\tin_place\tlicense\n"
        "plate\tinputs/plate.ome.zarr\treference\ttrue\tCC-BY-4.0\n"
    )
    (workdir / "config.yaml").write_text('samples: samples.tsv\nngff_version: "0.6"\n')
    python = python_with_kill_hook(tmp_path / "venv")
    env = {
        **os.environ,
        "PATH": f"{python.parent}:{os.environ['PATH']}",
        "NGFF_RESAVE_TEST_KILL": f"{source}|zarr.json|6",
    }
    command = [str(python), "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2"]
    command += ["--directory", str(workdir), "--configfile", str(workdir / "config.yaml")]
    failed = subprocess.run(
        [*command, "--keep-going"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert failed.returncode != 0, failed.stderr[-3000:]
    assert "plate: its job died; the input's documents are put back" in failed.stderr
    # Put back by the run's end: the input's own documents everywhere, one version.
    documents = {k: v for k, v in everything(source)[0].items() if k.endswith("zarr.json")}
    assert documents == input_documents
    assert set(zarr_versions(source).values()) <= {"0.5", None, "array"}
    snakemake(workdir)
    assert {v for v in node_versions(source).values() if v} == {"0.6"}


def test_the_archive_is_the_tar_stream_tarfile_writes_in_gnu_format(monkeypatch):
    # pack builds the members' headers itself (tarfile's addfile was a third of a plate's
    # archive time): the stream must stay what tarfile writes, long and non-ASCII names too.
    import gzip
    import io

    kept: dict[str, bytes | None] = {
        "zarr.json": b"{}\n",
        CLAIM_FILE: None,
        "ro-crate-metadata.json": b"{" * 1000,
        "A/1/zarr.json": b"x" * 511,
        "A/1/0/zarr.json": b"y" * 512,
        "A/1/0/0/zarr.json": b"",
        "é/zarr.json": b"utf-8",
        "n" * 91 + "/zarr.json": b"a name of exactly 100 bytes",
        "a" * 95 + "/zarr.json": b"a GNU long name",
    }
    monkeypatch.setattr("ngff_resave.records.originals.time.time", lambda: 1_700_000_000.5)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        names = [p for p in ["ro-crate-metadata.json", "zarr.json"] if kept[p] is not None]
        names += sorted(
            (p for p in kept if p.count("/") and kept[p] is not None),
            key=lambda p: (p.count("/"), p),
        )
        for name, data in [(n, kept[n]) for n in names] + [(ABSENT_LIST, b".ngff-resave.json\n")]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data or b""), 1_700_000_000, 0o644
            archive.addfile(info, io.BytesIO(data or b""))
    archive = pack(kept)
    assert gzip.decompress(archive) == buffer.getvalue()
    assert unpack(archive, "here") == kept
