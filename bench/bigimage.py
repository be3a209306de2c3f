"""`make bench`, a big image from a cold page cache: one whole-slide image shaped like IDR's
idr0083 slide 9822152.zarr (t,c,z,y,x = 1,1,1,93184,144384 uint8, 6 levels, 17.9 GB stored),
copied byte for byte, resaved by the 2024 challenge's converter and converted by the whole
workflow.

Input (made once, cached under bench/cache/bigimage-<scale>/ with a done-marker, so an
interrupted generation is made again): OME-Zarr 0.4, Zarr v2, written directly (numpy and
numcodecs, two processes) with the metadata bioformats2raw writes (an image at the root,
``multiscales`` with its ``metadata`` block and ``omero``): level 0 of 93184 x 144384 times
--scale in y and x, 5 more levels each halving y and x (rounding up) while the shape allows,
chunks 1,1,1,1024,1024, blosc lz4 clevel 5 shuffle, "/" dimension separator. The pixels look
like a slide to a compressor: a smooth field (sums of sines along y and x and the product of
one of each, wavelengths 800 to 12,000 level-0 pixels, the same field at every level, in that
level's coordinates) plus 2 bits of noise (each chunk its own seeded stream). blosc-lz4 (the input's codec) stores it at 0.97 of its
raw size, as the real slide's 17.9 GB stored are about its raw size; blosc-zstd-5 with bit
shuffle (the challenge's codec, and ours by that name) at 0.55, as the challenge's tool makes
9.6 GB of the real 17.9 (measured on 12 chunks of levels 0, 2 and 4). Random bytes, the
content before (spec version 1), hid every codec's cost: zstd gives up on them early.
A chunk is generated in a few milliseconds (one 1024x6 by 6x1024 product, a clip, the noise).

Runs, each from a cold page cache where the machine allows it (root on Linux: ``sync``, then 3
written to /proc/sys/vm/drop_caches; otherwise the results say so and the runs are warm), each
into a fresh output that is deleted afterwards (never two outputs on the disk at once):

* ``copy``: ``cp -r --reflink=never INPUT OUTPUT`` (every byte read and written; no block
  sharing even where the filesystem could);
* ``tool``: ``ome2024-ngff-challenge resave --cc-by INPUT OUTPUT --output-shards=1,1,1,4096,4096
  --output-chunks=1,1,1,1024,1024`` (its own venv under bench/cache, as bench/benchmark.py
  installs it; its defaults otherwise: 16 threads, blosc-zstd-5);
* ``workflow``: ngff-resave with default settings (a one-row sheet, the default config but a
  license, so full validation), one ``snakemake --cores 2`` run from a fresh working directory;
* ``reencode``: the same, its row asking for the tool's codec, chunks and shards
  (``codec: blosc-zstd-5``, ``chunks`` TOOL_CHUNKS, ``shards`` TOOL_SHARDS): the re-encode
  beside the tool's.

The codec floor, measured in the same run (before the runs, on this process's one thread): on
--floor-chunks chunk files spread evenly over every level's chunks, the seconds numcodecs needs
to decode each (blosc-lz4), encode it as blosc-zstd-5 (the codec ngff-resave writes by that
name: bit shuffle for uint8) and decode that back; each sum scaled to all of the image's chunks
and divided by --cores. The re-encode rows are set against it: with the read-back decode (as
``validate.mode: full`` proves every pixel) and without (the tool reads nothing back).

Figures: wall seconds of the command; the ``sync`` right after it (what it left to write);
GB/s = stored bytes of the input / wall; peak memory = the largest resident set of any process
of the command's tree (wait4's ru_maxrss, which covers every descendant that was waited for);
CPU seconds of the tree; the output's stored bytes; each run's time against the byte copy's.
For the workflow also per step, from its records: Snakemake's benchmark files
(benchmarks/**.tsv: s, max_rss, cpu_time), the convert and pack jobs' own JSON records, and file
times for the catalog and the report pages (which have no benchmark file). Fields a record does
not have are skipped. Every figure is the median of --repeat runs (peak memory: the largest).

Writes bench/bigimage-results.md, prints it and puts the main table between docs/benchmarks.md's
``<!-- bench-bigimage:start -->`` and ``<!-- bench-bigimage:end -->`` markers when both are
there. --work, --cache, --output and --readme keep a test's files in its own folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # run as `python bench/bigimage.py` or imported by the tests
    sys.path.insert(0, str(HERE))

from benchmark import CHALLENGE, challenge_python  # noqa: E402
from scale import (  # noqa: E402
    LICENSE,
    fresh,
    measured,
    snakemake_command,
    why_failed,
    write_workdir,
)
from scale import update_readme as update_readme_between  # noqa: E402

LOG = logging.getLogger("bench.bigimage")
CACHE = HERE / "cache"
README_START, README_END = "<!-- bench-bigimage:start -->", "<!-- bench-bigimage:end -->"
# idr0083, 9822152.zarr: level 0 of the slide.
FULL_Y, FULL_X = 93184, 144384
CHUNK = 1024
LEVELS = 6
SEED = 9822152
SPEC_VERSION = 2  # 1: random bytes; 2: a smooth field plus 2 bits of noise
DATASET = "slide"
RUNS = ("copy", "tool", "workflow", "reencode")
REENCODE_CODEC = "blosc-zstd-5"
TOOL_CHUNKS, TOOL_SHARDS = "1,1,1,1024,1024", "1,1,1,4096,4096"
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
TARGET = 1.6  # the workflow's wall time against the byte copy's
FLOOR_TARGET = 1.3  # the re-encode's wall time against the codec floor (read-back included)
MEMORY_TARGET = 500 * 2**20  # the re-encode's largest process
NOISE_BITS = 2
FIELD_TERMS = 3
GB = 1e9


# ---- the input ---------------------------------------------------------------------------


def level_shapes(scale: float) -> list[tuple[int, int, int, int, int]]:
    """Level 0 is the slide's y and x times ``scale``; each further level halves y and x
    (rounding up), up to 6 levels, while there is something left to halve."""
    if not scale > 0:
        raise ValueError(f"--scale must be positive: {scale}")
    y, x = max(1, round(FULL_Y * scale)), max(1, round(FULL_X * scale))
    shapes = [(1, 1, 1, y, x)]
    while len(shapes) < LEVELS and (y > 1 or x > 1):
        y, x = -(-y // 2), -(-x // 2)
        shapes.append((1, 1, 1, y, x))
    return shapes


def level_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """1,1,1,1024,1024, no larger than the level (bioformats2raw's tiles)."""
    return (1, 1, 1, min(CHUNK, shape[3]), min(CHUNK, shape[4]))


def compressor() -> dict[str, Any]:
    return {"clevel": 5, "blocksize": 0, "shuffle": 1, "cname": "lz4", "id": "blosc"}


def dumps(value: Any) -> str:
    """JSON spelled the way bioformats2raw (Jackson) writes it."""
    return json.dumps(value, indent=2, separators=(",", " : "))


def image_attributes(levels: int, name: str) -> dict[str, Any]:
    """The root .zattrs bioformats2raw writes for one image (as in 2d.zarr of the
    ome2024-ngff-challenge repository's tests/data, or any bioformats2raw output)."""
    axes = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
            {"name": "z", "type": "space"}, {"name": "y", "type": "space"},
            {"name": "x", "type": "space"}]
    datasets = [{"path": str(level), "coordinateTransformations": [
        {"scale": [1.0, 1.0, 1.0, 2.0**level, 2.0**level], "type": "scale"}]}
        for level in range(levels)]
    return {
        "multiscales": [{
            "metadata": {"method": "loci.common.image.SimpleImageScaler",
                         "version": "Bio-Formats 7.1.0"},
            "axes": axes, "name": name, "datasets": datasets, "version": "0.4"}],
        "omero": {
            "channels": [{"color": "808080", "coefficient": 1, "active": True,
                          "label": "Channel 0",
                          "window": {"min": 0.0, "max": 255.0, "start": 0.0, "end": 255.0},
                          "family": "linear", "inverted": False}],
            "rdefs": {"defaultT": 0, "model": "greyscale", "defaultZ": 0}},
    }


def smooth_field(level: int, y0: int, x0: int, h: int, w: int):
    """The slide's smooth field over rows y0..y0+h and columns x0..x0+w of ``level``, as
    float32, in level-0 pixels (so each level is the field seen from further away): a sum of
    FIELD_TERMS sines along y, as many along x, and the product of one more of each, fixed by
    SEED. Each a vector, so the chunk costs two broadcast operations (a matrix product would
    call the BLAS, whose threads fight the generating processes)."""
    import numpy as np

    rng = np.random.default_rng((SEED, 0))
    wavelengths = rng.uniform(800, 12000, (2, FIELD_TERMS + 1))
    phases = rng.uniform(0, 2 * np.pi, (2, FIELD_TERMS + 1))
    amplitudes = rng.uniform(10, 25, (2, FIELD_TERMS + 1))
    step = float(2**level)

    def waves(start: int, size: int, axis: int):
        at = (np.arange(start, start + size, dtype=np.float64) * step)[:, None]
        values = np.sin(at * (2 * np.pi / wavelengths[axis]) + phases[axis]) * amplitudes[axis]
        return values[:, :-1].sum(axis=1).astype(np.float32), values[:, -1].astype(np.float32)

    rows, row_product = waves(y0, h, 0)
    columns, column_product = waves(x0, w, 1)
    field = np.multiply.outer(row_product, column_product / 20)
    field += rows[:, None]
    field += columns[None, :]
    return field


def chunk_bytes(level: int, iy: int, ix: int, chunks: Sequence[int], shape: Sequence[int]):
    """One chunk's pixels: the smooth field around mid-grey plus NOISE_BITS bits of noise, the
    chunk's own seeded stream; an edge chunk's part outside the level is the fill value, 0, as
    zarr writes it."""
    import numpy as np

    cy, cx = chunks[3], chunks[4]
    h, w = min(cy, shape[3] - iy * cy), min(cx, shape[4] - ix * cx)
    top = 256 - (1 << NOISE_BITS)  # the field's largest value, so that noise cannot overflow
    field = smooth_field(level, iy * cy, ix * cx, h, w)
    field += top / 2
    np.clip(field, 0, top, out=field)
    pixels = field.astype(np.uint8)
    noise = np.frombuffer(np.random.default_rng((SEED, level, iy, ix)).bytes(h * w),
                          dtype=np.uint8).reshape(h, w)
    pixels += noise & np.uint8((1 << NOISE_BITS) - 1)
    if (h, w) == (cy, cx):
        return pixels
    chunk = np.zeros((cy, cx), dtype=np.uint8)
    chunk[:h, :w] = pixels
    return chunk


def write_chunk_row(root: str, level: int, iy: int, shape: tuple[int, ...],
                    chunks: tuple[int, ...]) -> int:
    """Every chunk of one row of one level; the bytes written."""
    import numcodecs

    numcodecs.blosc.set_nthreads(1)  # one process per core already
    codec = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE, blocksize=0)
    folder = Path(root) / str(level) / "0" / "0" / "0" / str(iy)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for ix in range(-(-shape[4] // chunks[4])):
        data = codec.encode(chunk_bytes(level, iy, ix, chunks, shape))
        (folder / str(ix)).write_bytes(data)
        written += len(data)
    return written


def stored_bytes(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


@dataclass
class Input:
    root: Path
    shapes: list[tuple[int, int, int, int, int]]
    stored: int
    generation_seconds: float
    generated_now: bool
    generated_on: str


def generate(folder: Path, scale: float, workers: int = 2) -> Input:
    """The OME-Zarr 0.4 slide under ``folder`` (cached: the marker, written last, names its
    spec; without it, or with another spec, the folder is made anew)."""
    root = folder / "input.ome.zarr"
    marker = folder / "input.done"
    shapes = level_shapes(scale)
    spec = {"shapes": shapes, "chunk": CHUNK, "seed": SEED, "version": SPEC_VERSION,
            "noise_bits": NOISE_BITS, "field_terms": FIELD_TERMS}
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        done = {}
    if done.get("spec") == json.loads(json.dumps(spec)) and root.is_dir():
        return Input(root, shapes, done["stored"], done["seconds"], False, done["date"])
    fresh(root)
    marker.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    raw = sum(s[3] * s[4] for s in shapes)
    free = shutil.disk_usage(folder).free
    if free < raw * 1.05:
        raise RuntimeError(f"{folder}: {free / GB:.1f} GB free, the input needs about "
                           f"{raw / GB:.1f} GB")
    LOG.info("generating %s: %d levels, level 0 %s uint8, about %.2f GB", root, len(shapes),
             shapes[0], raw / GB)
    started = time.perf_counter()
    root.mkdir(parents=True)
    (root / ".zgroup").write_text(dumps({"zarr_format": 2}))
    (root / ".zattrs").write_text(dumps(image_attributes(len(shapes), "9822152-like")))
    tasks = []
    for level, shape in enumerate(shapes):
        chunks = level_chunks(shape)
        (root / str(level)).mkdir()
        (root / str(level) / ".zarray").write_text(dumps({
            "chunks": list(chunks), "compressor": compressor(), "dtype": "|u1",
            "fill_value": 0, "filters": None, "order": "C", "shape": list(shape),
            "dimension_separator": "/", "zarr_format": 2}))
        tasks += [(str(root), level, iy, shape, chunks)
                  for iy in range(-(-shape[3] // chunks[3]))]
    # Largest rows first, so that the two processes end together.
    tasks.sort(key=lambda t: -t[3][4])
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done_rows, _ in enumerate(pool.map(write_chunk_row, *zip(*tasks, strict=True)), 1):
            if done_rows % 50 == 0:
                LOG.info("  %d of %d chunk rows", done_rows, len(tasks))
    os.sync()  # on the disk before the marker says it is done
    seconds = time.perf_counter() - started
    stored = stored_bytes(root)
    date = time.strftime("%Y-%m-%d")
    marker.write_text(json.dumps({"spec": spec, "stored": stored, "seconds": round(seconds, 1),
                                  "date": date}))
    return Input(root, shapes, stored, seconds, True, date)


# ---- the codec floor --------------------------------------------------------------------


@dataclass
class Floor:
    """The codecs' own seconds on one thread for every chunk of the image (scaled from a
    sample), and what that is on ``cores`` cores."""
    chunks: int
    sampled: int
    decode: float  # the input's blosc-lz4
    encode: float  # blosc-zstd-5, bit shuffle
    decode_back: float  # the new chunk decoded again (the read-back)
    encoded_ratio: float  # blosc-zstd-5 bytes / raw bytes, on the sample
    input_ratio: float  # blosc-lz4 bytes / raw bytes, on the sample
    cores: int

    @property
    def seconds(self) -> float:
        """Decode, encode and decode back, on every core."""
        return (self.decode + self.encode + self.decode_back) / self.cores

    @property
    def without_readback(self) -> float:
        return (self.decode + self.encode) / self.cores

    @property
    def cpu_seconds(self) -> float:
        return self.decode + self.encode + self.decode_back


def chunk_files(source: Input) -> list[Path]:
    """Every chunk file of the image, level by level, row by row."""
    files = []
    for level, shape in enumerate(source.shapes):
        chunks = level_chunks(shape)
        for iy in range(-(-shape[3] // chunks[3])):
            folder = source.root / str(level) / "0" / "0" / "0" / str(iy)
            files += [folder / str(ix) for ix in range(-(-shape[4] // chunks[4]))]
    return files


def codec_floor(source: Input, cores: int, sample: int = 40, repeat: int = 3) -> Floor:
    """The codec floor: ``sample`` chunk files spread evenly over all of them, each decoded,
    encoded as blosc-zstd-5 (ngff-resave's codec of that name) and decoded back on this
    thread (blosc on one thread), ``repeat`` times, the median of each; the sums scaled to all
    chunks. Timed by this thread's CPU clock: on a shared machine the wall clock would count
    the time others had the core."""
    import numcodecs
    import numpy as np

    from ngff_resave.arrays.codecs import named_codec
    from ngff_resave.arrays.reencode import v3_compressor_to_numcodecs

    files = chunk_files(source)
    picked = sorted({files[i * len(files) // min(sample, len(files))]
                     for i in range(min(sample, len(files)))})
    reader = numcodecs.get_codec(compressor())
    writer = v3_compressor_to_numcodecs(named_codec(REENCODE_CODEC, 1))
    assert writer is not None
    threads = numcodecs.blosc.get_nthreads()
    numcodecs.blosc.set_nthreads(1)
    sums = [0.0, 0.0, 0.0]
    raw = stored = encoded_bytes = 0
    try:
        for path in picked:
            data = path.read_bytes()
            times: list[list[float]] = [[], [], []]
            for _ in range(repeat):
                began = time.thread_time()
                decoded = np.frombuffer(reader.decode(data), dtype=np.uint8)
                decoded_at = time.thread_time()
                encoded = writer.encode(decoded)
                encoded_at = time.thread_time()
                back = writer.decode(encoded)
                ended = time.thread_time()
                times[0].append(decoded_at - began)
                times[1].append(encoded_at - decoded_at)
                times[2].append(ended - encoded_at)
            if bytes(back) != decoded.tobytes():
                raise RuntimeError(f"{path}: blosc-zstd-5 does not give the chunk back")
            for number, found in enumerate(times):
                sums[number] += statistics.median(found)
            raw += decoded.nbytes
            stored += len(data)
            encoded_bytes += len(encoded)
    finally:
        numcodecs.blosc.set_nthreads(threads)
    scale = len(files) / len(picked)
    return Floor(len(files), len(picked), sums[0] * scale, sums[1] * scale, sums[2] * scale,
                 encoded_bytes / raw, stored / raw, cores)


# ---- the page cache ----------------------------------------------------------------------


def drop_caches(path: Path = DROP_CACHES) -> str | None:
    """``sync``, then drop the page cache, dentries and inodes: None when done, else why not."""
    os.sync()
    if sys.platform != "linux":
        return f"not Linux ({sys.platform})"
    try:
        with open(path, "w") as handle:
            handle.write("3\n")
    except OSError as err:
        return f"cannot write 3 to {path}: {err.strerror or err}"
    return None


# ---- runs --------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured run."""
    seconds: float
    sync_seconds: float
    peak_bytes: int
    cpu_seconds: float
    output_bytes: int
    steps: dict[str, Step] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Step:
    """One step of the workflow: jobs, their seconds summed, the largest resident set and CPU
    seconds (0 / NaN where no record says), whether it ran inside another job (a pack), and
    notes from the jobs' own records."""
    jobs: int = 0
    seconds: float = 0.0
    peak_bytes: int = 0
    cpu_seconds: float = math.nan
    inside: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Setup:
    source: Input
    work: Path
    cores: int
    timeout: float
    cold: bool
    challenge: Path | None = None


def tool_command(executable: Path, source: Path, output: Path) -> list[str]:
    """The seed's flags, and --silent: without it the tool exits with the number of images it
    converted (1 here), which reads as a failure."""
    return [str(executable), "resave", "--cc-by", str(source), str(output),
            f"--output-shards={TOOL_SHARDS}", f"--output-chunks={TOOL_CHUNKS}", "--silent"]


def copy_command(source: Path, output: Path) -> list[str]:
    return ["cp", "-r", "--reflink=never", str(source), str(output)]


def prepare(setup: Setup) -> str | None:
    """Before a run: the cache dropped (when asked for); None, else why it could not be."""
    if not setup.cold:
        os.sync()
        return "warm by request (--warm)"
    return drop_caches()


def check_space(setup: Setup, where: Path) -> None:
    free = shutil.disk_usage(where).free
    if free < setup.source.stored * 1.05:
        raise RuntimeError(f"{where}: {free / GB:.1f} GB free, an output needs about "
                           f"{setup.source.stored / GB:.1f} GB")


def timed_run(setup: Setup, command: list[str], output: Path, name: str,
              after: Callable[[Run], None] | None = None) -> tuple[Run, str | None]:
    """``command`` into ``output`` (made fresh, deleted after): measured from a cold cache."""
    fresh(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    check_space(setup, output.parent)
    warm = prepare(setup)
    LOG.info("%s: %s", name, shlex.join(command))
    started = time.time()
    try:
        result = measured(command, timeout=setup.timeout, name=name)
    except (RuntimeError, TimeoutError) as err:
        workdir = setup.work / "workflow"
        extra = f"{failures(workdir)}\n{why_failed(workdir, setup.cores, started)}" \
            if name == "workflow" else ""
        fresh(output)
        raise RuntimeError(f"{err}\n{extra}") from None
    begun = time.perf_counter()
    os.sync()
    run = Run(result.seconds, time.perf_counter() - begun, result.tree_peak_bytes,
              result.tree_cpu, stored_bytes(output) if output.exists() else 0)
    try:
        if after:
            after(run)
    finally:
        fresh(output)
    return run, warm


def failures(workdir: Path, width: int = 600) -> str:
    """The workflow's results/failed.tsv, each line cut to ``width`` characters."""
    path = workdir / "results" / "failed.tsv"
    if not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return f"{path}:\n" + "\n".join(line[:width] + ("..." if len(line) > width else "")
                                     for line in lines)


def run_copy(setup: Setup) -> tuple[Run, str | None]:
    output = setup.work / "copy" / "output.ome.zarr"
    return timed_run(setup, copy_command(setup.source.root, output), output, "copy")


def run_tool(setup: Setup) -> tuple[Run, str | None]:
    assert setup.challenge is not None
    output = setup.work / "tool" / "output.ome.zarr"
    return timed_run(setup, tool_command(setup.challenge, setup.source.root, output), output,
                     "tool")


def workflow_command(setup: Setup) -> list[str]:
    workdir = setup.work / "workflow"
    return snakemake_command(workdir, setup.work / "workflow-snakemake-stats.json", setup.cores)


def run_workflow(setup: Setup) -> tuple[Run, str | None]:
    """One Snakemake run from a fresh working directory: a one-row sheet, default config."""
    workdir = setup.work / "workflow"
    fresh(workdir)
    write_workdir(workdir, [(DATASET, setup.source.root)])
    output = workdir / "results" / "ome-zarr"

    def after(run: Run) -> None:
        row = catalog_row(workdir)
        if row.get("valid") != "True":
            raise RuntimeError(f"the workflow's output is not valid: {json.dumps(row)[:3000]}\n"
                               f"{failures(workdir)}")
        run.notes.append(f"catalog: valid {row.get('valid')}, validated "
                         f"{row.get('validated') or '?'}, mode {row.get('mode') or '?'}, "
                         f"shards {row.get('shards') or '?'}")
        run.steps = workflow_steps(workdir, run.seconds)

    return timed_run(setup, workflow_command(setup), output, "workflow", after)


def run_reencode(setup: Setup) -> tuple[Run, str | None]:
    """As ``run_workflow``, the row asking for the tool's codec, chunks and shards."""
    workdir = setup.work / "reencode"
    fresh(workdir)
    write_workdir(workdir, [(DATASET, setup.source.root)])
    (workdir / "samples.tsv").write_text(
        "dataset\tinput\tcodec\tchunks\tshards\n"
        f"{DATASET}\t{setup.source.root.resolve()}\t{REENCODE_CODEC}\t{TOOL_CHUNKS}\t"
        f"{TOOL_SHARDS}\n")
    output = workdir / "results" / "ome-zarr"

    def after(run: Run) -> None:
        row = catalog_row(workdir)
        if row.get("valid") != "True" or row.get("mode") != "reencode":
            raise RuntimeError(f"the re-encode is not valid or not a re-encode: "
                               f"{json.dumps(row)[:3000]}\n{failures(workdir)}")
        run.notes.append(f"catalog: valid {row.get('valid')}, validated "
                         f"{row.get('validated') or '?'}, mode {row.get('mode')}, "
                         f"shards {row.get('shards') or '?'}, chunks {row.get('chunks') or '?'}")
        run.steps = workflow_steps(workdir, run.seconds)

    command = snakemake_command(workdir, setup.work / "reencode-snakemake-stats.json",
                                setup.cores)
    return timed_run(setup, command, output, "reencode", after)


def catalog_row(workdir: Path) -> dict[str, str]:
    catalog = workdir / "results" / "catalog.csv"
    if not catalog.exists():
        return {}
    with open(catalog, newline="") as handle:
        return next((row for row in csv.DictReader(handle) if row.get("dataset") == DATASET),
                    {})


# ---- the workflow's records --------------------------------------------------------------


def number(value: Any) -> float | None:
    """A finite number, else None (booleans and text are not numbers here)."""
    if isinstance(value, bool):
        return None
    try:
        found = float(value)
    except (TypeError, ValueError):
        return None
    return found if math.isfinite(found) else None


def benchmark_record(path: Path) -> dict[str, float]:
    """A Snakemake benchmark file's first row, its numeric fields only."""
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        return {}
    values = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=False))
    return {k: v for k, v in ((k, number(v)) for k, v in values.items()) if v is not None}


def step_of(record: Path, benchmarks: Path) -> str:
    """The rule a benchmark file is for: ``benchmarks/<dataset>/<rule>-...tsv``,
    ``benchmarks/plans/...`` (plan), ``benchmarks/packs/...`` (pack)."""
    parts = record.relative_to(benchmarks).parts
    if len(parts) > 1 and parts[0] in ("plans", "packs"):
        return parts[0][:-1]
    return record.stem.split("-")[0]


def mtime(path: Path) -> float:
    return path.stat().st_mtime


def newest(paths) -> float | None:
    times = [mtime(p) for p in paths if p.is_file()]
    return max(times) if times else None


def json_records(*paths: Path) -> list[dict[str, Any]]:
    """The JSON objects of the files named, and of the ``*.json`` files of the folders named."""
    found = []
    for path in paths:
        for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
            try:
                value = json.loads(file.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def size(count: float) -> str:
    return f"{count / GB:.2f} GB" if count >= 1e8 else f"{count / 1e6:.2f} MB"


def own_record_notes(records: Sequence[dict[str, Any]], what: str) -> list[str]:
    """What the jobs' own JSON records say: seconds, bytes read and written, peak memory (each
    where some record has it)."""
    parts = []
    for key, label in (("seconds", "seconds"), ("bytes_read", "read"),
                       ("bytes_written", "written")):
        values = [v for v in (number(r.get(key)) for r in records) if v is not None]
        if values:
            total = sum(values)
            parts.append(f"{label} {total:.1f} s" if key == "seconds"
                         else f"{label} {size(total)}")
    peaks = [v for v in (number(r.get("peak_memory_bytes")) for r in records) if v is not None]
    if peaks:
        parts.append(f"peak {max(peaks) / 2**20:.0f} MiB")
    return [f"{what} ({len(records)}): " + ", ".join(parts)] if parts else []


def record_span(records: Sequence[dict[str, Any]]) -> tuple[float, float] | None:
    """The first ``started_at`` and the last ``finished_at`` of the records that have both."""
    spans = [(number(r.get("started_at")), number(r.get("finished_at"))) for r in records]
    spans = [(a, b) for a, b in spans if a is not None and b is not None]
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


def benchmark_steps(benchmarks: Path) -> dict[str, Step]:
    """Snakemake's benchmark files, per rule: jobs, seconds summed, the largest max_rss (MB, as
    Snakemake writes it), cpu_time summed."""
    steps: dict[str, Step] = {}
    for record in sorted(benchmarks.rglob("*.tsv")):
        values = benchmark_record(record)
        step = steps.setdefault(step_of(record, benchmarks), Step())
        step.jobs += 1
        step.seconds += values.get("s", 0.0)
        if "max_rss" in values:
            step.peak_bytes = max(step.peak_bytes, int(values["max_rss"] * 2**20))
        if "cpu_time" in values:
            step.cpu_seconds = values["cpu_time"] + (0.0 if math.isnan(step.cpu_seconds)
                                                     else step.cpu_seconds)
    return steps


def packed_steps(dataset: Path, converts: Sequence[dict[str, Any]]) -> dict[str, Step]:
    """Inside a pack job (no benchmark file of their own): convert from its records' start and
    end times, metadata and validation from the times their records were written."""
    steps: dict[str, Step] = {}
    span = record_span(converts)
    if span is None:
        return steps
    steps["convert"] = Step(0, span[1] - span[0], inside=True, notes=[
        "inside the pack job: its records' first start to last end"])
    metadata, validation = dataset / "metadata.json", dataset / "validation.json"
    if metadata.is_file():
        steps["metadata"] = Step(0, max(0.0, mtime(metadata) - span[1]), inside=True, notes=[
            "inside the pack job: metadata.json's time less the last convert's end"])
        if validation.is_file():
            steps["validate"] = Step(0, max(0.0, mtime(validation) - mtime(metadata)),
                                     inside=True, notes=[
                "inside the pack job: validation.json's time less metadata.json's"])
    return steps


def workflow_steps(workdir: Path, wall: float) -> dict[str, Step]:
    """Per step of the run in ``workdir``: Snakemake's benchmark files, the jobs' own records,
    and file times for what has no benchmark file (the catalog, the report pages, the steps
    inside a pack job)."""
    benchmarks, results = workdir / "benchmarks", workdir / "results"
    dataset = results / DATASET
    steps = benchmark_steps(benchmarks)
    converts = json_records(dataset / "convert")
    if "pack" in steps:
        for name, step in packed_steps(dataset, converts).items():
            steps.setdefault(name, step)
        packs = json_records(results / "packs")
        steps["pack"].notes += own_record_notes(packs, "pack records")
        for pack in packs:
            for entry in pack.get("datasets") or []:
                if isinstance(entry, dict) and entry.get("dataset") == DATASET:
                    parts = [f"{k} {v}" for k, v in entry.items() if k != "dataset" and v != ""]
                    steps["pack"].notes.append("the dataset's entry: " + ", ".join(parts))
    records = {
        "convert": converts,
        # metadata.json is the job's record again (a pack writes only that one).
        "metadata": json_records(dataset / "metadata") or json_records(dataset / "metadata.json"),
        "validate": json_records(dataset / "validate"),
    }
    for name, found in records.items():
        if found:
            steps.setdefault(name, Step(inside=True)).notes += own_record_notes(
                found, f"{name} records")
    catalog = results / "catalog.csv"
    if catalog.exists():
        before = newest(benchmarks.rglob("*.tsv"))
        if before is not None:
            steps["catalog"] = Step(1, max(0.0, mtime(catalog) - before), notes=[
                "no benchmark file: catalog.csv's time less the newest benchmark file's"])
        pages = newest(p for p in (results / "report").rglob("*"))
        if pages is not None:
            steps["report pages"] = Step(1, max(0.0, pages - mtime(catalog)), notes=[
                "no benchmark file: the newest page's time less catalog.csv's"])
    jobs = sum(s.seconds for s in steps.values() if not s.inside)
    steps["rest"] = Step(0, max(0.0, wall - jobs), notes=[
        "wall less the steps above (those inside a pack counted once, as the pack): "
        "Snakemake's start, DAG and scheduling; jobs that overlap make it smaller"])
    return steps


# ---- the report --------------------------------------------------------------------------


@dataclass
class Summary:
    """The median over repeats of one kind of run."""
    name: str
    command: str
    runs: list[Run]
    note: str = ""

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def sync_seconds(self) -> float:
        return statistics.median(r.sync_seconds for r in self.runs)

    @property
    def to_disk(self) -> float:
        return statistics.median(r.seconds + r.sync_seconds for r in self.runs)

    @property
    def peak_bytes(self) -> int:
        return max(r.peak_bytes for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def output_bytes(self) -> int:
        return self.runs[-1].output_bytes


LABELS = {
    "copy": "byte copy, `cp -r`",
    "tool": "ome2024-ngff-challenge resave",
    "workflow": "ngff-resave workflow, defaults",
    "reencode": f"ngff-resave workflow, `codec: {REENCODE_CODEC}`",
}
NOTES = {
    "copy": "every file read and written",
    "tool": f"shards {TOOL_SHARDS}, chunks {TOOL_CHUNKS}; its defaults: 16 threads, "
            "blosc-zstd-5",
    "workflow": "one `snakemake --cores 2` run from a fresh working directory: plan to "
                "catalog, copy mode, full validation, RO-Crate",
    "reencode": f"as the defaults' run, the row with codec {REENCODE_CODEC}, chunks "
                f"{TOOL_CHUNKS}, shards {TOOL_SHARDS} (the tool's): re-encode mode",
}


def fig(value: float) -> str:
    """A figure with the digits its size deserves: 123.4, 1.23, 0.0123."""
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"


def ratio(value: float, base: float | None) -> str:
    return "n/a" if not base else f"{value / base:.2f}"


def rate(stored: int, seconds: float) -> str:
    return fig(stored / seconds / GB) if seconds > 0 else "n/a"


def main_table(summaries: Sequence[Summary], stored: int, floor: Floor | None = None) -> str:
    copy = next((s for s in summaries if s.name == "copy"), None)
    lines = [
        "| run | wall s | GB/s | sync after, s | peak memory | CPU s | output GB | wall / copy "
        "| to disk / copy | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {LABELS[s.name]} | {fig(s.seconds)} | {rate(stored, s.seconds)} | "
            f"{fig(s.sync_seconds)} | {s.peak_bytes / 2**20:.0f} MiB | {fig(s.cpu_seconds)} | "
            f"{fig(s.output_bytes / GB)} | {ratio(s.seconds, copy and copy.seconds)} | "
            f"{ratio(s.to_disk, copy and copy.to_disk)} | {s.note or NOTES[s.name]} |")
    if floor is not None:
        lines.append(
            f"| codec floor, {floor.cores} cores | {fig(floor.seconds)} | "
            f"{rate(stored, floor.seconds)} | | | {fig(floor.cpu_seconds)} | "
            f"{fig(stored / floor.input_ratio * floor.encoded_ratio / GB)} | "
            f"{ratio(floor.seconds, copy and copy.seconds)} | | numcodecs on one thread, "
            f"{floor.sampled} of {floor.chunks} chunks scaled: blosc-lz4 decode "
            f"{fig(floor.decode)} s, {REENCODE_CODEC} encode {fig(floor.encode)} s, its decode "
            f"(the read-back) {fig(floor.decode_back)} s; / {floor.cores} cores; without the "
            f"read-back {fig(floor.without_readback)} s |")
    return "\n".join(lines) + "\n"


def reencode_verdict(summaries: Sequence[Summary], floor: Floor | None) -> str:
    """The re-encode against the tool, the codec floor and the memory target."""
    ours = next((s for s in summaries if s.name == "reencode"), None)
    tool = next((s for s in summaries if s.name == "tool"), None)
    if ours is None:
        return ""
    parts = []
    if tool is not None:
        parts.append(f"{ours.seconds / tool.seconds:.2f}x the tool's wall time "
                     f"({'met' if ours.seconds <= tool.seconds else 'not met'}: no slower), "
                     f"{ours.cpu_seconds / tool.cpu_seconds:.2f}x its CPU seconds")
    if floor is not None:
        within = ours.seconds / floor.seconds
        parts.append(f"{within:.2f}x the codec floor with the read-back "
                     f"({'met' if within <= FLOOR_TARGET else 'not met'}: within "
                     f"{FLOOR_TARGET}x)")
        convert = [r.steps["convert"].seconds for r in ours.runs if "convert" in r.steps]
        if convert:
            alone = statistics.median(convert)
            parts.append(f"its convert jobs alone {fig(alone)} s, {alone / floor.seconds:.2f}x "
                         "the floor (the rest is the workflow's own: Snakemake, planning, "
                         "metadata, validation)")
        parts.append(f"{ours.cpu_seconds / floor.cpu_seconds:.2f}x the floor's CPU seconds "
                     "(a shared machine's other load stretches wall times, far less CPU "
                     "seconds)")
        if tool is not None:
            parts.append(f"the tool {tool.seconds / floor.without_readback:.2f}x the floor "
                         f"without the read-back (it reads nothing back), "
                         f"{tool.cpu_seconds / floor.cpu_seconds:.2f}x its CPU seconds")
    parts.append(f"largest process {ours.peak_bytes / 2**20:.0f} MiB "
                 f"({'met' if ours.peak_bytes <= MEMORY_TARGET else 'not met'}: "
                 f"at most {MEMORY_TARGET / 2**20:.0f} MiB)")
    return f"Re-encode ({REENCODE_CODEC}): ours " + "; ".join(parts) + "."


STEP_ORDER = ("plan", "pack", "convert", "metadata", "validate", "catalog", "report pages",
              "rest")


def steps_table(runs: Sequence[Run], stored: int, wall: float) -> str:
    names = [n for n in STEP_ORDER if any(n in r.steps for r in runs)]
    names += sorted({n for r in runs for n in r.steps} - set(names))
    lines = ["| step | jobs | seconds | GB/s | share of wall | peak memory | CPU s | "
             "from the records |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name in names:
        found = [r.steps[name] for r in runs if name in r.steps]
        seconds = statistics.median(s.seconds for s in found)
        peak = max(s.peak_bytes for s in found)
        cpus = [s.cpu_seconds for s in found if not math.isnan(s.cpu_seconds)]
        last = found[-1]
        label, jobs = (f"{name}, inside the pack", "") if last.inside else (name, last.jobs)
        lines.append(
            f"| {label} | {jobs} | {fig(seconds)} | {rate(stored, seconds)} | "
            f"{seconds / wall:.0%} | {f'{peak / 2**20:.0f} MiB' if peak else ''} | "
            f"{fig(statistics.median(cpus)) if cpus else ''} | "
            f"{'; '.join(last.notes)} |")
    return "\n".join(lines) + "\n"


def memory_total() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def filesystem(path: Path) -> str:
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def revision() -> str:
    """The repository's commit, and whether its work tree had changes."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        changes = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                  "--untracked-files=no"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"
    return f"commit {commit}" + (" with uncommitted changes" if changes else "")


def describe_input(source: Input, scale: float) -> str:
    levels = ", ".join(f"{s[3]}x{s[4]}" for s in source.shapes)
    made = (f"generated in this run in {source.generation_seconds:.1f} s" if
            source.generated_now else f"generated on {source.generated_on} in "
            f"{source.generation_seconds:.1f} s, cached")
    raw = sum(s[3] * s[4] for s in source.shapes)
    return (f"Input: an OME-Zarr 0.4 image shaped like IDR's idr0083 slide 9822152.zarr at "
            f"--scale {scale:g}: t,c,z,y,x uint8, {len(source.shapes)} levels (y x x: {levels}), "
            f"chunks 1,1,1,1024,1024, blosc lz4 clevel 5 shuffle, \"/\" separator, "
            f"bioformats2raw's metadata; a smooth field plus {NOISE_BITS} bits of noise, so its "
            f"{raw:,} bytes of pixels are stored in {source.stored:,} bytes, "
            f"{fig(source.stored / GB)} GB ({made}).")


def report(summaries: Sequence[Summary], setup: Setup, scale: float, repeat: int,
           cache_state: str, load: tuple[float, float, float],
           floor: Floor | None = None) -> tuple[str, str]:
    """The whole results text and the part for the README."""
    from importlib.metadata import version

    memory = memory_total()
    stored = setup.source.stored
    head = [
        describe_input(setup.source, scale),
        "",
        f"Machine: {os.cpu_count()} cores, "
        f"{f'{memory / 2**30:.0f} GiB' if memory else 'unknown'} RAM, {platform.system()} "
        f"{platform.release()}, {filesystem(setup.work)} filesystem for input and outputs; "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start. "
        f"Page cache: {cache_state}. Median of {repeat} run(s) (peak memory: the largest). "
        f"ngff-resave {version('ngff-resave')}, {revision()}.",
        "",
        main_table(summaries, stored, floor),
    ]
    notes = [
        "GB/s: stored bytes of the input / wall. Wall: the command alone; sync after: the "
        "`sync` right after it, for what it left in the page cache to write; to disk = wall + "
        "sync. Peak memory: the largest resident set of any one process of the command's tree "
        "(wait4). CPU s: user + system of the whole tree. Output GB: the output's stored bytes, "
        "deleted after each run.",
    ]
    workflow = next((s for s in summaries if s.name == "workflow"), None)
    copy = next((s for s in summaries if s.name == "copy"), None)
    verdict = ""
    if workflow is not None and copy is not None:
        within = workflow.seconds / copy.seconds
        verdict = (f" Target: the workflow within {TARGET}x of the byte copy's wall time; here "
                   f"{within:.2f}x ({'met' if within <= TARGET else 'not met'}).")
        head.append(verdict.strip())
        head.append("")
    reencoded = reencode_verdict(summaries, floor)
    if reencoded:
        head += [reencoded, ""]
    for workflow in (s for s in summaries if s.name in ("workflow", "reencode")):
        label = "workflow's" if workflow.name == "workflow" else "re-encode's"
        notes += ["", f"The {label} steps (Snakemake "
                      f"{version('snakemake')}; seconds of its jobs summed per step, the "
                      "median over runs; GB/s: stored bytes of the input / the step's "
                      "seconds; peak memory and CPU s: Snakemake's benchmark files, max_rss "
                      "being the job's processes' resident sets summed, as Snakemake samples "
                      "them).", "",
                  steps_table(workflow.runs, stored, workflow.seconds).rstrip()]
        last = "Last run's" if workflow.name == "workflow" else "Last re-encode run's"
        for note in workflow.runs[-1].notes:
            notes += ["", f"{last} {note}."]
    notes += ["", "Commands (INPUT: the cached input, OUTPUT: a fresh folder; each run started "
                  "by `sync` and, cold, `echo 3 > /proc/sys/vm/drop_caches`):", ""]
    for s in summaries:  # a command, then what it needs said in parentheses
        command, _, aside = s.command.partition("  (")
        notes.append(f"- {s.name}: `{command}`" + (f" ({aside}" if aside else ""))
    text = "\n".join(head + notes) + "\n"
    readme = "\n".join(head).rstrip() + "\n\nSteps, commands and notes: " \
        "`bench/bigimage-results.md`.\n"
    return text, readme


def update_readme(readme: Path | None, text: str) -> None:
    if readme is not None:
        update_readme_between(readme, text, README_START, README_END)


def parse_only(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [k for k in kinds if k not in RUNS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"--only takes some of {','.join(RUNS)}: {text!r}")
    return [k for k in RUNS if k in kinds]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="times y and x of the slide's level 0 (0.05: a CI-sized image)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", type=parse_only, default=list(RUNS),
                        help=f"runs to make, comma-separated (default {','.join(RUNS)})")
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--floor-chunks", type=int, default=40,
                        help="chunks the codec floor is measured on (0: no floor)")
    parser.add_argument("--warm", action="store_true",
                        help="do not drop the page cache before each run")
    parser.add_argument("--timeout", type=float, default=4 * 3600,
                        help="seconds before one measured command is killed")
    parser.add_argument("--work", type=Path, default=CACHE / "bigimage-work",
                        help="where the outputs and the workflow's working directory go")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="where the input is made: CACHE/bigimage-<scale>/")
    parser.add_argument("--challenge-cache", type=Path, default=CACHE,
                        help="where the challenge's venv is (installed there when missing)")
    parser.add_argument("--output", type=Path, default=HERE / "bigimage-results.md")
    parser.add_argument("--readme", type=Path, default=REPO / "docs" / "benchmarks.md",
                        help="page to update between its markers")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    load = os.getloadavg()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    source = generate(args.cache.resolve() / f"bigimage-{args.scale:g}", args.scale)
    print(f"input: {source.root}, {source.stored:,} bytes stored "
          f"({source.stored / GB:.2f} GB; "
          f"{'generated' if source.generated_now else 'cached, generated'} in "
          f"{source.generation_seconds:.1f} s)", flush=True)
    setup = Setup(source, work, args.cores, args.timeout, not args.warm)
    floor = None
    if args.floor_chunks > 0:
        floor = codec_floor(source, args.cores, args.floor_chunks)
        LOG.info("codec floor: %.1f s on %d cores (%.1f s without the read-back)",
                 floor.seconds, args.cores, floor.without_readback)
    if "tool" in args.only:
        setup.challenge = challenge_python(args.challenge_cache.resolve()).parent / \
            "ome2024-ngff-challenge"
    for folder in RUNS:  # an interrupted run's output
        fresh(work / folder)
    runs: dict[str, list[Run]] = {kind: [] for kind in args.only}
    why_warm: set[str] = set()
    kinds = {"copy": run_copy, "tool": run_tool, "workflow": run_workflow,
             "reencode": run_reencode}
    for attempt in range(args.repeat):
        for kind in args.only:
            run, warm = kinds[kind](setup)
            LOG.info("%s (%d of %d): %.1f s, sync %.1f s, peak %.0f MiB", kind, attempt + 1,
                     args.repeat, run.seconds, run.sync_seconds, run.peak_bytes / 2**20)
            runs[kind].append(run)
            if warm:
                why_warm.add(warm)
    if args.warm:
        cache_state = "**warm** (--warm); each run started after `sync`"
    elif why_warm:
        cache_state = ("**warm**: could not drop it (" + "; ".join(sorted(why_warm))
                       + "); each run started after `sync`")
    else:
        cache_state = ("cold before every run (`sync`, then 3 written to "
                       "/proc/sys/vm/drop_caches; the host's own cache of the virtual disk, "
                       "if any, is out of reach)")
    commands = {
        "copy": shlex.join(copy_command(Path("INPUT"), Path("OUTPUT"))),
        "tool": shlex.join(tool_command(Path("ome2024-ngff-challenge"), Path("INPUT"),
                                        Path("OUTPUT"))) + f"  ({CHALLENGE})",
        "workflow": "snakemake -s Snakefile --directory WORKDIR --configfile "
                    "WORKDIR/config.yaml --cores "
                    f"{args.cores} --quiet  (WORKDIR new: samples.tsv `dataset input` / "
                    f"`{DATASET} INPUT`; config.yaml: `samples: samples.tsv`, "
                    f"`rocrate: {{license: {LICENSE}}}`; Snakemake runs inside bench/scale.py's "
                    "small wrapper process)",
        "reencode": "snakemake -s Snakefile --directory WORKDIR --configfile "
                    f"WORKDIR/config.yaml --cores {args.cores} --quiet  (as workflow's, but "
                    "WORKDIR/samples.tsv `dataset input codec chunks shards` / "
                    f"`{DATASET} INPUT {REENCODE_CODEC} {TOOL_CHUNKS} {TOOL_SHARDS}`)",
    }
    summaries = [Summary(kind, commands[kind], runs[kind]) for kind in args.only]
    text, readme_text = report(summaries, setup, args.scale, args.repeat, cache_state, load,
                               floor)
    dated = f"Run of {time.strftime('%Y-%m-%d')}. {text}"
    print(dated)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"# Benchmark: a big image, cold cache\n\n{dated}")
    update_readme(args.readme, f"Run of {time.strftime('%Y-%m-%d')}, --scale "
                               f"{args.scale:g}. {readme_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
