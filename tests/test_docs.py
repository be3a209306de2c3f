"""The docs agree with themselves and with the package: every relative link and anchor of the
README and docs/ leads somewhere, every docs page is linked from the README, tables are whole,
no generated table names a folder of the machine that made it, benchmark tables are dated, and
the one statement of the OME-Zarr versions read and written (ngff_resave.model.versions) is the
text the docs hold and what the package's readers and writers do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import zarr
from conftest import REPO

from ngff_resave.model import patterns, versions
from ngff_resave.ome import attributes
from ngff_resave.source import layout, v01_v03, v05, v06
from ngff_resave.source.layout import SourceError, read_source
from ngff_resave.storage import open_location

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
# The pages whose links are checked: the README, docs/, and the other READMEs they lead to.
PAGES = [README, *DOCS, REPO / "config" / "README.md", REPO / "profiles" / "README.md"]
BENCH_RESULTS = sorted((REPO / "bench").glob("*.md"))

FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1\s*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+).+?\1")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
TABLE_LINE = re.compile(r"^\s*\|")
DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def prose(text: str) -> str:
    """The text without fenced code blocks (whose ``#`` lines are no headings, whose brackets
    are no links), the lines kept so that line numbers still hold."""
    return FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (links and code marks taken off) in lower
    case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for match in HEADING.finditer(prose(page.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        name, n = base, 0
        while name in found:  # GitHub numbers repeated headings: name, name-1, name-2
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", prose(page.read_text(encoding="utf-8")))
    return [m.group(1) for m in LINK.finditer(text)]


def relative_links(page: Path) -> list[str]:
    return [t for t in links(page) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_leads_somewhere(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_link_check_sees_links_anchors_and_code() -> None:
    """The helpers above read Markdown as GitHub renders it."""
    assert slug("One dataset: `ngff-resave convert`") == "one-dataset-ngff-resave-convert"
    assert slug("Upgrading an archive's 0.5 datasets to 0.6 in place") == (
        "upgrading-an-archives-05-datasets-to-06-in-place"
    )
    # An escaped bar stays in its cell; a bare one splits it, inside code too.
    assert cells("| a | `b\\|c` | d |") == 3 and cells("| a | `b|c` |") == 3
    page = "# A\n\nsee [b](x.md#a), `[not](a link)`\n\n```\n# no heading\n[no](link)\n```\n# A\n"
    assert INLINE_CODE.sub("", prose(page)).count("](") == 1
    assert [m.group(2) for m in HEADING.finditer(prose(page))] == ["A", "A"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert DOCS, "no docs pages"
    missing = [str(p.relative_to(REPO)) for p in DOCS if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_every_docs_page_links_back_to_the_readme() -> None:
    for page in DOCS:
        assert "../README.md" in relative_links(page), page


def test_the_readme_is_a_landing_page() -> None:
    """About 200 lines: what it does, install, the two commands, your own sheet, where results
    land, the report and how to open it, the one-dataset command, links."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 230
    for needed in (
        "make demo",
        "make test",
        "results/ome-zarr/",
        "results/catalog.csv",
        "results/failed.tsv",
        "--report report.html",
        "ngff-resave convert",
    ):
        assert needed in text, needed


@pytest.mark.parametrize("page", [*PAGES, *BENCH_RESULTS], ids=lambda p: str(p.relative_to(REPO)))
def test_tables_are_whole(page: Path) -> None:
    """A table's first line is followed by its delimiter line (a table cut by a blank line
    renders its second part as plain text), and every row has the header's number of cells (a
    bar not escaped as ``\\|``, also inside code, starts another cell)."""
    lines = prose(page.read_text(encoding="utf-8")).splitlines()
    columns = 0
    for number, line in enumerate(lines):
        where = f"{page.relative_to(REPO)} line {number + 1}"
        if not TABLE_LINE.match(line):
            continue
        if number == 0 or not TABLE_LINE.match(lines[number - 1]):
            following = lines[number + 1] if number + 1 < len(lines) else ""
            assert DELIMITER.match(following), (
                f"{where}: a table row without a header and delimiter line above it: {line[:80]!r}"
            )
            columns = cells(line)
        assert cells(line) == columns, f"{where}: {cells(line)} cells, the header has {columns}"


def cells(line: str) -> int:
    row = line.strip().removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return len(re.split(r"(?<!\\)\|", row))


MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|Users|root|tmp|var/folders)/")


@pytest.mark.parametrize("page", [*PAGES, *BENCH_RESULTS], ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_names_a_folder_of_the_machine_that_wrote_it(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert str(REPO) not in text
    assert not MACHINE_PATH.findall(text), page


# --- the benchmark tables: on docs pages, dated -------------------------------------------

BENCH_MARKERS = {
    "bench": "benchmarks.md",
    "bench-scale": "benchmarks.md",
    "bench-upgrade": "benchmarks.md",
    "bench-bigimage": "benchmarks.md",
    "bench-versions": "versions.md",
}


@pytest.mark.parametrize("name", BENCH_MARKERS)
def test_each_generated_benchmark_table_is_on_its_docs_page_and_dated(name: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = (REPO / "docs" / BENCH_MARKERS[name]).read_text(encoding="utf-8")
    assert text.count(start) == 1 and text.count(end) == 1
    block = text.split(start, 1)[1].split(end, 1)[0]
    assert re.match(r"\nRun of \d{4}-\d{2}-\d{2}\b", block), block[:80]
    assert start not in README.read_text(encoding="utf-8")


def test_the_bench_scripts_write_to_the_docs_pages_not_the_readme() -> None:
    for script in (REPO / "bench").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        assert '/ "README.md"' not in source, script
    for name, page in BENCH_MARKERS.items():
        writers = [
            s.name
            for s in (REPO / "bench").glob("*.py")
            if f"<!-- {name}:start -->" in s.read_text(encoding="utf-8")
        ]
        assert writers, name
        for writer in writers:
            assert f'"docs" / "{page}"' in (REPO / "bench" / writer).read_text(encoding="utf-8")


def test_no_benchmark_table_is_marked_out_of_date() -> None:
    for page in [README, *DOCS]:
        assert "out of date" not in page.read_text(encoding="utf-8").lower(), page


# --- the one statement of the versions read and written -----------------------------------


def generated_block(text: str, start: str, end: str) -> str:
    assert text.count(start) == 1 and text.count(end) == 1, (start, end)
    return start + text.split(start, 1)[1].split(end, 1)[0] + end


def test_the_docs_hold_the_generated_version_statements() -> None:
    """Run ``python -m ngff_resave.model.versions`` when this fails after the module changed."""
    readme = README.read_text(encoding="utf-8")
    assert (
        generated_block(readme, versions.SUMMARY_START_MARKER, versions.SUMMARY_END_MARKER)
        == versions.summary_markdown()
    )
    page = (REPO / "docs" / "versions.md").read_text(encoding="utf-8")
    assert (
        generated_block(page, versions.START_MARKER, versions.END_MARKER)
        == versions.versions_markdown()
    )


# A range of versions read, spelled out by hand ("0.1 to 0.4", "0.1-0.5"): only the generated
# statements may say which versions are read. (0.1 to 0.3 are the versions with inferences.)
READ_RANGE = re.compile(r"\b0\.1\s*(?:to|-|–|through)\s*0\.(?!3\b)\d\b")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_states_the_versions_read_by_hand(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for start, end in (
        (versions.START_MARKER, versions.END_MARKER),
        (versions.SUMMARY_START_MARKER, versions.SUMMARY_END_MARKER),
    ):
        if start in text:
            text = text.replace(generated_block(text, start, end), "")
    assert not READ_RANGE.findall(text), page


def test_the_config_reference_offers_the_versions_written() -> None:
    text = (REPO / "config" / "README.md").read_text(encoding="utf-8")
    assert " or ".join(f"`{v}`" for v in versions.WRITE_VERSIONS) in text  # the sheet column
    assert " or ".join(f'`"{v}"`' for v in versions.WRITE_VERSIONS) in text  # the config key


def test_the_statement_reads_as_users_see_it() -> None:
    assert versions.READ_VERSIONS_TEXT == "OME-Zarr 0.1 to 0.6"
    assert versions.WRITE_VERSIONS_TEXT == "OME-Zarr 0.5 or 0.6"
    assert versions.READ_FORMATS_TEXT == "OME-Zarr 0.1 to 0.4 (Zarr v2), 0.5 and 0.6 (Zarr v3)"
    assert versions.versions_text(("0.5",)) == "OME-Zarr 0.5"
    assert versions.DEFAULT_WRITE_VERSION == "0.5"


def test_the_statement_is_the_package_s_dispatch() -> None:
    """The readers' and writers' own tables agree with the statement."""
    by_format = {fmt: {e.version for e in versions.READ if e.zarr_format == fmt} for fmt in (2, 3)}
    assert layout.SUPPORTED_VERSIONS == by_format[2]
    assert set(v05.VERSIONS) == by_format[3] | set(versions.PRE_RELEASES)
    assert v06.PRE_RELEASES == versions.PRE_RELEASES
    assert versions.MENDED[2].what == ", ".join(v06.PRE_RELEASES)
    assert versions.MENDED[0].what == versions.versions_text(v01_v03.OLD_VERSIONS).removeprefix(
        "OME-Zarr "
    )
    assert tuple(attributes.WRITERS) == versions.WRITE_VERSIONS == patterns.NGFF_VERSIONS
    for refused in versions.REFUSED_VERSIONS:
        assert refused not in versions.READ_VERSIONS
        assert v05.v3_version_problem(refused) is not None


def minimal_image(root: Path, version: str, zarr_format: int) -> Path:
    """The smallest image an OME-Zarr ``version`` spells, in Zarr ``zarr_format``: one 5D
    level, axes as that version has them (none before 0.3, names in 0.3, objects from 0.4)."""
    multiscale: dict = {"datasets": [{"path": "0"}]}
    if version.startswith("0.6"):
        names = ["t", "c", "z", "y", "x"]
        axes = [{"name": n, "type": {"t": "time", "c": "channel"}.get(n, "space")} for n in names]
        multiscale["coordinateSystems"] = [{"name": "intrinsic", "axes": axes}]
        transform = {"type": "scale", "scale": [1.0] * 5}
        output = "intrinsic" if version == "0.6.dev3" else {"name": "intrinsic"}
        given = "0" if version == "0.6.dev3" else {"path": "0"}
        multiscale["datasets"][0]["coordinateTransformations"] = [
            {**transform, "input": given, "output": output}
        ]
    elif version not in ("0.1", "0.2"):
        names = ["t", "c", "z", "y", "x"]
        multiscale["axes"] = (
            names
            if version == "0.3"
            else [{"name": n, "type": {"t": "time", "c": "channel"}.get(n, "space")} for n in names]
        )
    if version not in ("0.1", "0.2", "0.3") and not version.startswith("0.6"):
        multiscale["datasets"][0]["coordinateTransformations"] = [
            {"type": "scale", "scale": [1.0] * 5}
        ]
    group = zarr.open_group(str(root), mode="w", zarr_format=zarr_format)
    array = group.create_array("0", shape=(1, 1, 1, 8, 8), chunks=(1, 1, 1, 8, 8), dtype="uint8")
    array[...] = 1
    if zarr_format == 2:
        group.attrs.update({"multiscales": [{"version": version, **multiscale}]})
    else:
        group.attrs.update({"ome": {"version": version, "multiscales": [multiscale]}})
    return root


@pytest.mark.parametrize("entry", versions.READ, ids=lambda e: e.version)
def test_every_version_stated_as_read_is_read(tmp_path: Path, entry: versions.ReadVersion) -> None:
    root = minimal_image(tmp_path / "in.ome.zarr", entry.version, entry.zarr_format)
    read = read_source(open_location(str(root)), "d")
    assert read.version == entry.version


@pytest.mark.parametrize("version", versions.PRE_RELEASES)
def test_every_pre_release_stated_as_read_is_read(tmp_path: Path, version: str) -> None:
    root = minimal_image(tmp_path / "in.ome.zarr", version, 3)
    read = read_source(open_location(str(root)), "d")
    assert read.version == version and read.images[0].axes == ["t", "c", "z", "y", "x"]


@pytest.mark.parametrize("version", [*versions.REFUSED_VERSIONS, "0.7"])
def test_every_version_stated_as_refused_is_refused(tmp_path: Path, version: str) -> None:
    root = minimal_image(tmp_path / "in.ome.zarr", version, 3)
    with pytest.raises(SourceError, match=re.escape(version)):
        read_source(open_location(str(root)), "d")


def test_a_version_read_from_zarr_v3_only_is_refused_in_zarr_v2(tmp_path: Path) -> None:
    for entry in versions.READ:
        if entry.zarr_format == 3:
            root = minimal_image(tmp_path / f"v2-{entry.version}.ome.zarr", entry.version, 2)
            with pytest.raises(SourceError, match=re.escape(entry.version)):
                read_source(open_location(str(root)), "d")


@pytest.mark.parametrize("version", versions.WRITE_VERSIONS)
def test_every_version_stated_as_written_is_written(version: str) -> None:
    model = {"multiscales": [{"axes": [{"name": "y", "type": "space"}], "datasets": []}]}
    written = attributes.ome_attributes(model, version)
    assert written["ome"]["version"] == version
