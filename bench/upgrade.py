"""`make bench`, upgrade scenarios: OME-Zarr 0.5 datasets upgraded to 0.6 in place (metadata
only), by ngff-resave's whole workflow and by ngff-zarr's ``upgrade_ome_zarr``.

Inputs (made once, cached under bench/cache/upgrade/): each OME-Zarr 0.4 input converted to 0.5
by our workflow (an ordinary run, new output, default settings). The 0.4 inputs are the others'
own: the ~1 GB image of bench/benchmark.py and the 1,536-well plate of bench/scale.py.

Scenarios, each run on a fresh copy (``cp -a``, then ``sync``; not timed) of the cached 0.5
dataset, measured end to end as a user waits:

* ``image``: ours, a one-row sheet ``mode: reference``, ``in_place: true``,
  ``ngff_version: "0.6"``, one Snakemake run from a fresh working directory, with
  ``validate.mode: full`` (the default: every chunk decoded) and with ``sample`` (the in-place
  recipe: the arrays' files are the input's own, sampled chunks decoded); then ngff-zarr's
  ``upgrade_ome_zarr(path, version="0.6")`` in a process of its own (its imports counted).
* ``plate``: the same on the plate's root.

Figures: wall seconds (median of --repeat); what the run wrote into the dataset, from a listing
of (path, size, mtime_ns) before and after (files new or changed, their bytes); whether every
chunk and shard file (each file below an array's folder, but its zarr.json) kept its size and
mtime; the catalog's ``valid`` (ours) or the tool's refusal; the 0.6 JSON schemas on the result
(ngff_resave.checks.spec_schemas). A small probe (the project's example image with labels and
omero, plus a multiscale-wide transform and a root attribute of no OME key) is upgraded by both
to record what each keeps.

Writes bench/upgrade-results.md, prints it and puts it between docs/benchmarks.md's
``<!-- bench-upgrade:start -->`` and ``<!-- bench-upgrade:end -->`` markers when both are there.
With --small, inputs are tiny and made under --work, and nothing outside --work is written
unless --output or --readme say so.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as `python bench/upgrade.py` or imported by the tests
    sys.path.insert(0, str(HERE))

import benchmark  # noqa: E402
from scale import (  # noqa: E402
    LICENSE,
    PLATE_FIELDS,
    PLATE_WELLS,
    clean,
    fresh,
    generate_plate,
    snakemake_command,
)
from scale import update_readme as update_readme_between  # noqa: E402

from ngff_resave.records.ownership import ORIGINALS  # noqa: E402

LOG = logging.getLogger("bench.upgrade")
CACHE = HERE / "cache"
README_START, README_END = "<!-- bench-upgrade:start -->", "<!-- bench-upgrade:end -->"
# Where the results' notes on each tool's metadata begin; the docs take what comes before.
FACTS = "What each upgrade did to the metadata, observed on the results above"
SMALL_IMAGE = {"shape": (1, 2, 2, 512, 512), "chunks": (1, 1, 1, 256, 256), "levels": 3}
SMALL_WELLS, SMALL_FIELDS = 4, 1
CONVERTED_SPEC = 1
OURS = "ngff-resave in place"
VALIDATE_MODES = ("full", "sample")
# The user's command: one process, its imports included.
UPGRADE = ("import sys\nfrom ngff_zarr import upgrade_ome_zarr\n"
           "upgrade_ome_zarr(sys.argv[1], version='0.6')\n")
METADATA_NAMES = {"zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata"}

Listing = dict[str, tuple[int, int]]
Documents = dict[str, dict[str, Any]]


@dataclass
class Outcome:
    seconds: float
    returncode: int
    output: str


@dataclass
class Writes:
    """What one run did to a dataset's files."""
    bytes: int
    files: int
    removed: int
    chunk_files: int
    chunks_changed: int

    @property
    def chunks_untouched(self) -> bool:
        return self.chunks_changed == 0


@dataclass
class Row:
    scenario: str
    tool: str
    seconds: float
    writes: Writes
    outcome: str
    schemas: str
    facts: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.outcome.startswith("refused")


# ---- pure parts --------------------------------------------------------------------------


def listing(root: Path) -> Listing:
    """Every file below ``root``: relative path -> (size, mtime_ns)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return found


def documents(root: Path, files: Listing) -> Documents:
    """Every ``zarr.json`` of the dataset (its kept originals left out), by node path."""
    found = {}
    for path in files:
        if os.path.basename(path) == "zarr.json" and not path.startswith(f"{ORIGINALS}/"):
            node = os.path.dirname(path)
            found[node] = json.loads((root / path).read_bytes())
    return found


def chunk_files(files: Listing, docs: Documents) -> list[str]:
    """The files below an array's folder (chunks and shards), its zarr.json aside."""
    arrays = {node for node, doc in docs.items() if doc.get("node_type") == "array"}
    found = []
    for path in files:
        if os.path.basename(path) in METADATA_NAMES or path.startswith(f"{ORIGINALS}/"):
            continue
        folder = os.path.dirname(path)
        while folder:
            if folder in arrays:
                found.append(path)
                break
            folder = os.path.dirname(folder)
    return found


def writes(before: Listing, after: Listing, chunks: Sequence[str]) -> Writes:
    """Files new or changed (size or mtime) and their bytes; chunk files changed or gone."""
    written = [path for path, seen in after.items() if before.get(path) != seen]
    return Writes(sum(after[p][0] for p in written), len(written),
                  sum(1 for p in before if p not in after), len(chunks),
                  sum(1 for p in chunks if after.get(p) != before[p]))


def error_line(output: str) -> str:
    """The exception a Python process ended with (``Type: message``), else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b.*?:", line):
            return line
    return lines[-1] if lines else ""


def ome(doc: dict[str, Any] | None) -> dict[str, Any]:
    value = ((doc or {}).get("attributes") or {}).get("ome")
    return value if isinstance(value, dict) else {}


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value, list items as ``[*]``."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found.add(path)
            found |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            found |= key_paths(item, f"{prefix}[*]")
    return found


def outermost(paths: set[str]) -> list[str]:
    """The paths that are not below another path of the set."""
    return sorted(p for p in paths
                  if not any(p != q and (p.startswith(q + ".") or p.startswith(q + "["))
                             for q in paths))


def level_values(transforms: Sequence[dict[str, Any]], kind: str) -> list[list[float]]:
    """The vectors of one level's transforms of ``kind`` (scale, translation), those inside a
    sequence too."""
    found = []
    for transform in transforms:
        if transform.get("type") == kind:
            found.append(transform.get(kind))
        elif transform.get("type") == "sequence":
            found += level_values(transform.get("transformations", []), kind)
    return found


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def image_facts(before: dict[str, Any], after: dict[str, Any], node: str) -> list[str]:
    """What became of one image group's metadata: keys, omero, level and multiscale-wide
    transforms."""
    where = f"`{node or '/'}`"
    facts = []
    old, new = before.get("multiscales", [{}])[0], after.get("multiscales", [{}])[0]
    if "omero" not in before:
        facts.append(f"{where}: no omero before")
    elif "omero" not in after:
        facts.append(f"{where}: **omero dropped**")
    else:
        same = before["omero"] == after["omero"]
        facts.append(f"{where}: omero kept{'' if same else ', changed'}")
    wide = old.get("coordinateTransformations")
    if wide:
        kept = new.get("coordinateTransformations")
        facts.append(f"{where}: multiscale-wide coordinateTransformations {compact(wide)} -> "
                     f"{compact(kept) if kept else '**none**'}; coordinate systems after: "
                     f"{[s.get('name') for s in new.get('coordinateSystems', [])]}")
    levels_before = [d.get("coordinateTransformations", []) for d in old.get("datasets", [])]
    levels_after = [d.get("coordinateTransformations", []) for d in new.get("datasets", [])]
    if levels_before:
        facts.append(f"{where}: level 0 transforms {compact(levels_before[0])} -> "
                     f"{compact(levels_after[0]) if levels_after else '**none**'}")
        same = [level_values(b, "scale") == level_values(a, "scale")
                for b, a in zip(levels_before, levels_after, strict=False)]
        facts.append(f"{where}: level scales kept in {sum(same)} of {len(levels_before)} "
                     "levels" + ("" if len(levels_after) == len(levels_before)
                                 else f", {len(levels_after)} levels after"))
        added = [t for b, a in zip(levels_before, levels_after, strict=False)
                 if not level_values(b, "translation") for t in level_values(a, "translation")]
        if added:
            facts.append(f"{where}: translations added where there were none "
                         f"({compact(sorted({tuple(t) for t in added}))})")
    return facts


def document_facts(before: Documents, after: Documents) -> list[str]:
    """What one upgrade did to the metadata documents, as plain facts."""
    changed = sorted(node for node in after if after[node] != before.get(node))
    kinds = Counter(after[node].get("node_type") for node in changed)
    facts = [f"zarr.json rewritten or added: {len(changed)} of {len(after)} "
             f"({kinds['group']} groups, {kinds['array']} arrays)"]
    gone = sorted(set(before) - set(after))
    if gone:
        facts.append(f"zarr.json removed: {len(gone)}")
    versions = Counter(str(ome(doc).get("version")) for doc in after.values() if ome(doc))
    facts.append("OME groups by ome.version after: "
                 + ", ".join(f"{v}: {n}" for v, n in sorted(versions.items())))
    groups = [node for node in changed if after[node].get("node_type") == "group"]
    dropped, added = set(), set()
    for node in groups:
        old, new = (before.get(node) or {}).get("attributes", {}), after[node].get("attributes", {})
        dropped |= key_paths(old) - key_paths(new)
        added |= key_paths(new) - key_paths(old)
    if dropped:
        facts.append("group attribute key paths gone: "
                     + ", ".join(f"`{p}`" for p in outermost(dropped)))
    if added:
        facts.append("group attribute key paths new: "
                     + ", ".join(f"`{p}`" for p in outermost(added)))
    if "" in before and "" in after:
        others = [sorted(k for k in (doc.get("attributes") or {}) if k != "ome")
                  for doc in (before[""], after[""])]
        if others[0] or others[1]:
            facts.append(f"root attributes outside `ome`: {others[0]} before, {others[1]} after")
    arrays = [node for node in changed if after[node].get("node_type") == "array"]
    differ: set[str] = set()
    for node in arrays:
        old, new = before.get(node) or {}, after[node]
        for key in set(old) | set(new):
            if key == "attributes":
                inner_old, inner_new = old.get(key) or {}, new.get(key) or {}
                differ |= {f"attributes.{k}" for k in set(inner_old) | set(inner_new)
                           if inner_old.get(k) != inner_new.get(k)}
            elif old.get(key) != new.get(key):
                differ.add(key)
    if differ:
        facts.append("array zarr.json keys that differ: " + ", ".join(f"`{k}`"
                                                                      for k in sorted(differ)))
    images = sorted((n for n in before if "multiscales" in ome(before[n])),
                    key=lambda n: (n.count("/"), n))
    for node in [n for n in images if n in after][:1] + [n for n in images if "/labels/" in
                                                         f"/{n}"][:1]:
        facts += image_facts(ome(before[node]), ome(after[node]), node)
    return facts


def schema_check(docs: Documents) -> str:
    """The 0.6 JSON schemas and the rules between documents, on every OME group."""
    from ngff_resave.checks import spec_schemas

    problems = {node: found for node, found in spec_schemas.hierarchy_problems(docs).items()
                if found}
    if not problems:
        return "ok"
    first = next(iter(sorted(problems)))
    return (f"{sum(map(len, problems.values()))} problems in {len(problems)} groups "
            f"(first, `{first or '/'}`: {problems[first][0][:160]})")


def mb(value: int) -> str:
    return f"{value / 1e6:.3f}"


def untouched(w: Writes) -> str:
    if w.chunks_untouched:
        return f"yes ({w.chunk_files:,} files)"
    return f"no ({w.chunks_changed:,} of {w.chunk_files:,} changed or gone)"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Row]) -> str:
    lines = ["| scenario | tool | seconds | MB written | files written | chunk files untouched "
             "| valid / refused | 0.6 schemas on the result |",
             "|---|---|---:|---:|---:|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.scenario} | {r.tool} | {r.seconds:.2f} | {mb(r.writes.bytes)} | "
                     f"{r.writes.files:,} | {untouched(r.writes)} | {cell(r.outcome)} | "
                     f"{cell(r.schemas)} |")
    return "\n".join(lines) + "\n"


# ---- running -----------------------------------------------------------------------------


def timed(command: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> Outcome:
    """Run ``command`` as its own process group, its output kept; the group is killed after
    ``timeout`` seconds."""
    start = time.perf_counter()
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, env=env)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise TimeoutError(f"{' '.join(command)} killed after {timeout:.0f} s") from None
    return Outcome(time.perf_counter() - start, process.returncode,
                   output.decode(errors="replace"))


def write_workdir(workdir: Path, row: dict[str, str], validate: str = "full") -> None:
    """A fresh working directory: a one-row sheet and a config naming it."""
    fresh(workdir).mkdir(parents=True)
    (workdir / "samples.tsv").write_text("\t".join(row) + "\n" + "\t".join(row.values()) + "\n")
    (workdir / "config.yaml").write_text(
        f"samples: samples.tsv\nrocrate:\n  license: {LICENSE}\nvalidate:\n  mode: {validate}\n")


def run_workflow(workdir: Path, cores: int, timeout: float) -> tuple[Outcome, dict[str, str]]:
    """One Snakemake run from clean and the sheet row's line of the catalog (empty: none)."""
    clean(workdir)
    stats = workdir.parent / f"{workdir.name}-snakemake-stats.json"
    outcome = timed(snakemake_command(workdir, stats, cores), timeout)
    catalog = workdir / "results" / "catalog.csv"
    if not catalog.exists():
        return outcome, {}
    with open(catalog, newline="") as handle:
        return outcome, next(csv.DictReader(handle), {})


def convert_to_05(name: str, source: Path, folder: Path, cores: int, timeout: float) -> Path:
    """``source`` (OME-Zarr 0.4) converted to 0.5 by the workflow with default settings, into
    ``folder/{name}.ome.zarr`` (cached: redone when the input was made again)."""
    output = folder / f"{name}.ome.zarr"
    marker = folder / f"{name}.json"
    spec = json.dumps({"input": str(source.resolve()), "version": CONVERTED_SPEC,
                       "made": (source / ".zattrs").stat().st_mtime_ns})
    if marker.exists() and marker.read_text() == spec and (output / "zarr.json").exists():
        return output
    LOG.info("%s: converting %s to OME-Zarr 0.5 by the workflow", name, source)
    marker.unlink(missing_ok=True)
    fresh(output)
    workdir = folder / f"{name}-05-work"
    write_workdir(workdir, {"dataset": name, "input": str(source.resolve()),
                            "output": str(output.resolve())})
    outcome, row = run_workflow(workdir, cores, timeout)
    if outcome.returncode != 0 or row.get("valid") != "True":
        raise RuntimeError(f"{name}: the 0.4 -> 0.5 conversion failed ({outcome.returncode}): "
                           f"{row.get('error') or outcome.output[-3000:]}")
    marker.write_text(spec)
    return output


@contextmanager
def image_shape(shape: tuple[int, ...], chunks: tuple[int, ...], levels: int) -> Iterator[None]:
    """benchmark.generate at another shape (its cache marker names the shape)."""
    saved = benchmark.SHAPE, benchmark.CHUNKS, benchmark.LEVELS
    benchmark.SHAPE, benchmark.CHUNKS, benchmark.LEVELS = shape, chunks, levels
    try:
        yield
    finally:
        benchmark.SHAPE, benchmark.CHUNKS, benchmark.LEVELS = saved


def make_probe(folder: Path) -> Path:
    """The project's example image with labels (omero, a label image), a multiscale-wide
    scale and a root attribute of no OME key added: OME-Zarr 0.4 (cached)."""
    from ngff_resave.cli.examples import write_image_with_labels

    root = folder / "probe-04.ome.zarr"
    marker = folder / "probe-04.done"
    if marker.exists():
        return root
    fresh(root)
    write_image_with_labels(root)
    attrs = json.loads((root / ".zattrs").read_text())
    ndim = len(attrs["multiscales"][0]["axes"])
    attrs["multiscales"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [1.0] * (ndim - 2) + [0.5, 0.5]}]
    attrs["bench-probe"] = {"kept": True}
    (root / ".zattrs").write_text(json.dumps(attrs))
    marker.write_text("1")
    return root


# ---- scenarios ---------------------------------------------------------------------------


@dataclass
class Setup:
    work: Path
    repeat: int
    cores: int
    timeout: float
    # Our validation modes measured, and whether ngff-zarr's row is (--validate, --no-ngff-zarr:
    # for measuring one change on one scenario without the others' minutes).
    validate: Sequence[str] = VALIDATE_MODES
    others: bool = True


def measure(scenario: str, tool: str, source: Path, setup: Setup,
            run: Callable[[Path], tuple[float, str]],
            prepare: Callable[[Path], None] | None = None) -> Row:
    """``run`` (wall seconds, outcome) on fresh copies of ``source``; what the last run wrote,
    whether it left the chunk files alone, the 0.6 schemas and what became of the metadata."""
    replica = setup.work / f"{scenario}-{re.sub(r'[^a-z0-9]+', '-', tool.lower())}.ome.zarr"
    seconds = []
    for attempt in range(setup.repeat):
        fresh(replica)
        subprocess.run(["cp", "-a", str(source), str(replica)], check=True)
        if prepare:
            prepare(replica)
        os.sync()  # the copy's writes are not left to the timed run's disk
        before = listing(replica)
        before_docs = documents(replica, before)
        chunks = chunk_files(before, before_docs)
        LOG.info("%s: %s (%d of %d)", scenario, tool, attempt + 1, setup.repeat)
        wall, outcome = run(replica)
        seconds.append(wall)
    after = listing(replica)
    after_docs = documents(replica, after)
    changed = writes(before, after, chunks)
    nothing = changed.files == 0 and changed.removed == 0
    return Row(scenario, tool, statistics.median(seconds), changed, outcome,
               "n/a: nothing written" if nothing else schema_check(after_docs),
               [] if nothing else document_facts(before_docs, after_docs))


def ours(scenario: str, source: Path, setup: Setup) -> list[Row]:
    """Our row, once per validation mode."""
    rows = []
    for validate in setup.validate:
        workdir = setup.work / f"{scenario}-ours-{validate}"

        def once(replica: Path, workdir: Path = workdir, validate: str = validate
                 ) -> tuple[float, str]:
            row = {"dataset": scenario, "input": str(replica.resolve()), "mode": "reference",
                   "in_place": "true", "ngff_version": "0.6"}
            write_workdir(workdir, row, validate)
            outcome, line = run_workflow(workdir, setup.cores, setup.timeout)
            if line.get("valid") == "True":
                return outcome.seconds, "valid (catalog)"
            if line.get("error"):
                return outcome.seconds, f"failed (catalog): {line['error']}"
            return outcome.seconds, (f"failed (exit {outcome.returncode}, no catalog row): "
                                     f"{error_line(outcome.output)}")

        row = measure(scenario, f"{OURS}, validate {validate}", source, setup, once)
        row.facts.insert(0, job_seconds(workdir / "benchmarks"))
        rows.append(row)
    return rows


def job_seconds(benchmarks: Path) -> str:
    """The seconds of the last run's jobs per rule, from Snakemake's benchmark records."""
    rules: dict[str, float] = {}
    for record in sorted(benchmarks.rglob("*.tsv")):
        header, values = record.read_text().splitlines()[:2]
        seconds = float(dict(zip(header.split("\t"), values.split("\t"), strict=False))["s"])
        rule = record.parent.relative_to(benchmarks).parts[0] if record.parent != benchmarks \
            else record.stem
        rules[rule] = rules.get(rule, 0.0) + seconds
    return ("jobs of the last run (Snakemake's benchmark records): "
            + (", ".join(f"{rule} {s:.1f} s" for rule, s in rules.items()) or "none"))


def ngff_zarr(scenario: str, source: Path, setup: Setup) -> Row:
    from importlib.metadata import version

    def once(replica: Path) -> tuple[float, str]:
        outcome = timed([sys.executable, "-c", UPGRADE, str(replica)], setup.timeout)
        if outcome.returncode == 0:
            return outcome.seconds, "done (no check of its own)"
        return outcome.seconds, f"refused (exit {outcome.returncode}): {error_line(outcome.output)}"

    row = measure(scenario, f"ngff-zarr {version('ngff-zarr')} upgrade_ome_zarr", source,
                  setup, once)
    imports = timed([sys.executable, "-c", "import ngff_zarr"], setup.timeout)
    row.facts.insert(0, f"a process that only imports ngff_zarr takes {imports.seconds:.2f} s "
                        "here (once, after the runs)")
    return row


def scenario_rows(scenario: str, source: Path, setup: Setup) -> list[Row]:
    theirs = [ngff_zarr(scenario, source, setup)] if setup.others else []
    return [*ours(scenario, source, setup), *theirs]


# ---- report ------------------------------------------------------------------------------


def report(rows: Sequence[Row], probe: Sequence[Row], inputs: dict[str, str], setup: Setup,
           load: tuple[float, float, float]) -> str:
    from importlib.metadata import version

    lines = [
        f"Machine: {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} (1 / 5 / 15 min) at the start; warm page cache (each run on a fresh "
        "`cp -a` copy of the 0.5 dataset, synced, not timed); median of "
        f"{setup.repeat} run(s). ngff-resave {version('ngff-resave')}: one Snakemake "
        f"{version('snakemake')} run from a fresh working directory, `--cores {setup.cores}`, "
        "a one-row sheet `mode: reference`, `in_place: true`, `ngff_version: \"0.6\"` "
        "(`validate.mode` as the row says, RO-Crate), planning and catalog included. ngff-zarr "
        f"{version('ngff-zarr')}: `upgrade_ome_zarr(path, version=\"0.6\")` in a Python "
        "process of its own, its imports included.",
        "",
        "Inputs, converted from OME-Zarr 0.4 to 0.5 by this workflow (default settings, new "
        "output) once and cached: " + "; ".join(f"{k}: {v}" for k, v in inputs.items()) + ".",
        "",
        table(rows),
        "MB and files written: files new or changed (size or mtime_ns) in the dataset after the "
        "run, from listings before and after. Chunk files: every file below an array's folder "
        "but its zarr.json (shards here), compared by size and mtime_ns. 0.6 schemas: the "
        "spec's 0.6 JSON schemas and the rules between documents (ngff_resave.checks."
        "spec_schemas) on every OME group of the result.",
    ]
    lines += ["", FACTS + " (key paths: list items as `[*]`; a value that moved under another "
              "key, such as a scale into a `sequence`, counts as gone and new):", ""]
    for r in [*rows, *probe]:
        if r.facts:
            lines.append(f"- {r.scenario}, {r.tool}:")
            lines += [f"  - {fact}" for fact in r.facts]
    if probe:
        lines += ["", "probe: the project's example image with labels (`ngff_resave.cli.examples`"
                  ", omero, one label image), with a multiscale-wide scale and a root attribute "
                  "`bench-probe` added, converted to 0.5 by this workflow, then upgraded by "
                  "each tool as above. Its rows:", "", table(probe).rstrip()]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path | None, text: str) -> None:
    if readme is not None:
        update_readme_between(readme, text, README_START, README_END)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--small", action="store_true",
                        help="tiny inputs made under --work (an image of "
                             f"{'x'.join(map(str, SMALL_IMAGE['shape']))}, a plate of "
                             f"{SMALL_WELLS} wells), for the tests")
    parser.add_argument("--plate-wells", type=int, default=None,
                        help=f"wells of the plate (default {PLATE_WELLS}, --small "
                             f"{SMALL_WELLS}; 0: skip the plate)")
    parser.add_argument("--plate-fields", type=int, default=None,
                        help=f"fields per well (default {PLATE_FIELDS}, --small {SMALL_FIELDS})")
    parser.add_argument("--no-probe", action="store_true", help="skip the metadata probe")
    parser.add_argument("--no-image", action="store_true", help="skip the image scenario")
    parser.add_argument("--no-ngff-zarr", action="store_true", help="skip ngff-zarr's rows")
    parser.add_argument("--validate", default=",".join(VALIDATE_MODES),
                        help="our validation modes measured, comma-separated (default "
                             f"{','.join(VALIDATE_MODES)})")
    parser.add_argument("--timeout", type=float, default=2 * 3600,
                        help="seconds before one measured command is killed")
    parser.add_argument("--work", type=Path, default=None,
                        help="working folder (default bench/cache/upgrade-work)")
    parser.add_argument("--output", type=Path, default=None,
                        help="results file (default bench/upgrade-results.md; --small: in "
                             "--work)")
    parser.add_argument("--readme", type=Path, default=None,
                        help="page to update between its markers (default "
                             "docs/benchmarks.md; --small: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = (args.work or CACHE / "upgrade-work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "inputs" if args.small else CACHE
    output = args.output or (work / "upgrade-results.md" if args.small
                             else HERE / "upgrade-results.md")
    readme = args.readme or (None if args.small else REPO / "docs" / "benchmarks.md")
    wells = args.plate_wells if args.plate_wells is not None else (
        SMALL_WELLS if args.small else PLATE_WELLS)
    fields = args.plate_fields or (SMALL_FIELDS if args.small else PLATE_FIELDS)
    modes = [mode for mode in args.validate.split(",") if mode]
    if not modes or set(modes) - set(VALIDATE_MODES):
        parser.error(f"--validate: modes among {', '.join(VALIDATE_MODES)}")
    setup = Setup(work, args.repeat, args.cores, args.timeout, modes, not args.no_ngff_zarr)
    converted = cache / "upgrade"
    converted.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()

    inputs: dict[str, str] = {}
    rows: list[Row] = []
    if not args.no_image:
        if args.small:
            with image_shape(SMALL_IMAGE["shape"], SMALL_IMAGE["chunks"], SMALL_IMAGE["levels"]):
                image04 = benchmark.generate(cache)
        else:
            image04 = benchmark.generate(cache)
        shape = "x".join(map(str, benchmark.SHAPE if not args.small else SMALL_IMAGE["shape"]))
        inputs["image"] = (f"bench/benchmark.py's image, {shape} uint16 "
                           f"(0.4 at {benchmark.repo_relative(str(image04))})")
        image = convert_to_05("image", image04, converted, args.cores, args.timeout)
        rows += scenario_rows("image", image, setup)
    if wells:
        plate04 = generate_plate(cache / "scale", wells, fields)
        inputs["plate"] = (f"bench/scale.py's plate, {wells} wells x {fields} fields "
                           f"(0.4 at {benchmark.repo_relative(str(plate04))})")
        plate = convert_to_05("plate", plate04, converted, args.cores, args.timeout)
        rows += scenario_rows("plate", plate, setup)
    probe: list[Row] = []
    if not args.no_probe:
        probe05 = convert_to_05("probe", make_probe(converted), converted, args.cores,
                                args.timeout)
        probe = scenario_rows("probe", probe05, Setup(work, 1, args.cores, args.timeout,
                                                      modes, setup.others))
    text = report(rows, probe, inputs, setup, load)
    dated = f"Run of {time.strftime('%Y-%m-%d')}. {text}"
    print(dated)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f"# Upgrade benchmark: OME-Zarr 0.5 to 0.6 in place\n\n{dated}")
    summary = dated.split(FACTS, 1)[0].rstrip()
    update_readme(readme, f"{summary}\n\n{FACTS}: `bench/upgrade-results.md`.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
