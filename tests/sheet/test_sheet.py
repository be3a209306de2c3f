from pathlib import Path

import pytest

from ngff_resave.sheet.settings import SheetError, fill_config_defaults, load_samples, plan_settings


def write_sheet(workdir: Path, text: str, name: str = "samples.tsv") -> dict:
    (workdir / "in.zarr").mkdir(exist_ok=True)
    (workdir / name).write_text(text)
    return fill_config_defaults({"samples": name, "rocrate": {"license": "CC-BY-4.0"}})


GOOD = "dataset\tinput\nfirst\tin.zarr\nsecond\tin.zarr\n"


def test_config_defaults_are_filled():
    config = fill_config_defaults({"samples": "s.tsv"})
    assert config["output_root"] == "results/ome-zarr"
    assert config["validate"] == {"mode": "full", "sample_chunks": 8}
    assert config["shards"]["target_bytes"] == 64 * 2**20
    assert config["overwrite"] is False
    with pytest.raises(SheetError, match="validate/mode"):
        fill_config_defaults({"samples": "s.tsv", "validate": {"mode": "most"}})
    with pytest.raises(SheetError, match="rocrate/license"):
        fill_config_defaults({"samples": "s.tsv", "rocrate": {"license": "MIT"}})
    with pytest.raises(SheetError, match="rocrate/organism"):
        fill_config_defaults({"samples": "s.tsv", "rocrate": {"organism": "human"}})


def test_good_sheet_and_settings(tmp_path):
    config = write_sheet(tmp_path, GOOD)
    samples = load_samples(config, tmp_path)
    assert list(samples) == ["first", "second"]
    settings = plan_settings(samples["first"], config, tmp_path)
    assert settings.output == str(tmp_path / "results/ome-zarr/first.ome.zarr")
    assert settings.input == str(tmp_path / "in.zarr")
    assert settings.crate["license"] == "CC-BY-4.0"


def test_csv_sheets_are_read_by_extension(tmp_path):
    config = write_sheet(tmp_path, 'dataset,input,chunks\na,in.zarr,"1,1,64,64"\n', "s.csv")
    assert load_samples(config, tmp_path)["a"]["chunks"] == "1,1,64,64"


@pytest.mark.parametrize(
    ("sheet", "expected"),
    [
        ("dataset\n a\n", r"missing column `input` \(required\)"),
        (
            "dataset\tinput\tcolour\na\tin.zarr\tred\n",
            r"unknown column `colour`; the columns are dataset, input, output",
        ),
        (
            "dataset\tinput\na\tin.zarr\na\tin.zarr\n",
            r"line 3 \(dataset 'a'\), column 'dataset': duplicate id, first on line 2",
        ),
        ("dataset\tinput\nbad id\tin.zarr\n", r"line 2 \(dataset 'bad id'\), column 'dataset'"),
        ("dataset\tinput\n-a\tin.zarr\n", r"column 'dataset'"),
        (
            "dataset\tinput\toutput\na\tin.zarr\tout.zarr\nb\tin.zarr\tout.zarr\n",
            r"line 3 \(dataset 'b'\), column 'output': .*out.zarr is also the output of line 2",
        ),
        (
            "dataset\tinput\tchunks\na\tin.zarr\t1,x,64\n",
            r"line 2 \(dataset 'a'\), column 'chunks'",
        ),
        ("dataset\tinput\tshards\na\tin.zarr\t1,,64\n", r"column 'shards'"),
        (
            "dataset\tinput\tchunks\tshards\na\tin.zarr\t1,64\t1,96\n",
            r"column 'shards': \[1, 96\] is not a whole multiple of chunks \[1, 64\]",
        ),
        (
            "dataset\tinput\tlicense\na\tin.zarr\tCC-BY-SA\n",
            r"line 2 \(dataset 'a'\), column 'license'",
        ),
        ("dataset\tinput\torganism\na\tin.zarr\thuman\n", r"column 'organism'"),
        ("dataset\tinput\tmodality\na\tin.zarr\tFBbi:123\n", r"column 'modality'"),
        ("dataset\tinput\tcodec\na\tin.zarr\tbrotli\n", r"column 'codec'"),
        (
            "dataset\tinput\tinput_storage\na\tin.zarr\tnowhere\n",
            r"column 'input_storage': no storage preset 'nowhere'",
        ),
        ("dataset\tinput\tdetails\na\tin.zarr\tnone.json\n", r"column 'details': cannot read"),
        ("dataset\tinput\n\tin.zarr\n", r"line 2 \(dataset ''\), column 'dataset'"),
        (
            "dataset\tinput\na\tnosuch://bucket/x.zarr\n",
            r"column 'input': nosuch://bucket/x.zarr: nosuch:// cannot be an input",
        ),
        (
            "dataset\tinput\toutput\na\tin.zarr\thttps://example.org/out.zarr\n",
            r"column 'output': https://example.org/out.zarr: https:// cannot be an output",
        ),
        (
            "dataset\tinput\na\thttps://someone:hunter2@example.org/in.zarr\n",
            r"column 'input': a https:// URL with credentials in it; give credentials through",
        ),
        ("dataset\tinput\n", r"the sheet has no rows"),
        (
            "dataset\tinput\nreport\tin.zarr\n",
            r"column 'dataset': 'report' is a name the workflow uses in results/ and logs/",
        ),
        (
            "dataset\tinput\toutput\na\tin.zarr\tout.zarr\nb\tout.zarr/x\t\n",
            r"line 2 \(dataset 'a'\), column 'output': .*out.zarr overlaps the input of line 3",
        ),
        (
            "dataset\tinput\tmode\na\tin.zarr\tlinks\n",
            r"column 'mode': 'links' is not accepted: give auto or reference",
        ),
        (
            "dataset\tinput\tin_place\na\tin.zarr\ttrue\n",
            r"column 'in_place': only a row with mode reference uses it",
        ),
        (
            "dataset\tinput\tfallback\na\tin.zarr\ttrue\n",
            r"column 'fallback': only a row with mode reference uses it",
        ),
        (
            "dataset\tinput\tmode\tcodec\na\tin.zarr\treference\tzstd-3\n",
            r"column 'codec': mode reference keeps the input's chunks and codecs",
        ),
        (
            "dataset\tinput\tmode\tshards\na\tin.zarr\treference\t1,64\n",
            r"column 'shards': mode reference keeps",
        ),
        (
            "dataset\tinput\tmode\tin_place\toutput\na\tin.zarr\treference\ttrue\tout.zarr\n",
            r"column 'output': in_place: true writes into the input; leave output empty",
        ),
        (
            "dataset\tinput\tmode\tin_place\na\thttps://example.org/in.zarr\treference\ttrue\n",
            r"column 'in_place': https://example.org/in.zarr cannot be written to",
        ),
        (
            "dataset\tinput\tmode\na\ts3://bucket/in.zarr\treference\n",
            r"column 'mode': reference to a new output links the input's chunk files",
        ),
        (
            "dataset\tinput\tmode\toutput\na\tin.zarr\treference\ts3://bucket/out.zarr\n",
            r"column 'mode': reference to a new output .* needs a local input and a local output",
        ),
        (
            "dataset\tinput\tmode\tin_place\na\tin.zarr\treference\ttrue\nb\tin.zarr\t\t\n",
            r"line 2 \(dataset 'a'\), column 'output': .*in.zarr overlaps the input of line 3",
        ),
    ],
)
def test_bad_sheets_name_row_and_column(tmp_path, sheet, expected):
    config = write_sheet(tmp_path, sheet)
    with pytest.raises(SheetError, match=expected):
        load_samples(config, tmp_path)


def test_reference_rows_and_their_settings(tmp_path):
    config = write_sheet(
        tmp_path,
        "dataset\tinput\tmode\tin_place\tfallback\tcodec\tinput_storage\n"
        "a\tin.zarr\treference\ttrue\t\t\t\n"
        "b\tin2.zarr\treference\t\ttrue\tzstd-3\t\n"
        "c\ts3://bucket/c.zarr\treference\ttrue\t\t\tlake\n",
    )
    (tmp_path / "in2.zarr").mkdir()
    config["storage"] = {"lake": {"endpoint": "http://127.0.0.1:9"}}
    rows = load_samples(config, tmp_path)
    a, b, c = (plan_settings(rows[d], config, tmp_path) for d in "abc")
    assert (a.mode, a.in_place, a.fallback, a.output) == ("reference", True, False, a.input)
    assert (b.in_place, b.fallback, b.codec) == (False, True, "zstd-3")
    assert b.output == str(tmp_path / "results" / "ome-zarr" / "b.ome.zarr")
    assert c.output == c.input == "s3://bucket/c.zarr"
    assert c.output_storage == c.input_storage == {"endpoint_url": "http://127.0.0.1:9"}


def test_license_is_needed_unless_the_crate_is_off(tmp_path):
    (tmp_path / "in.zarr").mkdir()
    (tmp_path / "s.tsv").write_text("dataset\tinput\trocrate\na\tin.zarr\t\nb\tin.zarr\tfalse\n")
    config = fill_config_defaults({"samples": "s.tsv"})
    with pytest.raises(SheetError) as info:
        load_samples(config, tmp_path)
    assert "line 2 (dataset 'a'), column 'license': no license" in str(info.value)
    assert "dataset 'b'" not in str(info.value)
    config["rocrate"]["enabled"] = False
    samples = load_samples(config, tmp_path)
    assert plan_settings(samples["a"], config, tmp_path).crate is None


def test_every_problem_is_reported_at_once(tmp_path):
    config = write_sheet(tmp_path, "dataset\tinput\torganism\na b\tin.zarr\tx\nc\tin.zarr\ty\n")
    with pytest.raises(SheetError) as info:
        load_samples(config, tmp_path)
    assert str(info.value).count("column") == 3


def test_an_empty_sheet_file_says_what_it_needs(tmp_path):
    config = write_sheet(tmp_path, "")
    with pytest.raises(SheetError, match=r"samples.tsv is empty: it needs a header line"):
        load_samples(config, tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("samples.tsv", "dataset,input\nfirst,in.zarr\n", "read as tab-separated"),
        ("samples.csv", "dataset\tinput\nfirst\tin.zarr\n", "read as comma-separated"),
    ],
)
def test_a_sheet_with_the_other_separator_says_so(tmp_path, name, text, said):
    config = write_sheet(tmp_path, text, name)
    with pytest.raises(SheetError, match="the separator looks wrong") as raised:
        load_samples(config, tmp_path)
    message = str(raised.value)
    assert said in message and "missing column `dataset` (required)" in message
    assert "did you mean" not in message


def test_a_url_with_credentials_is_refused_without_repeating_them(tmp_path):
    config = write_sheet(tmp_path, "dataset\tinput\na\ts3://key:hunter2@bucket/in.zarr\n")
    with pytest.raises(SheetError) as info:
        load_samples(config, tmp_path)
    assert "credentials" in str(info.value) and "hunter2" not in str(info.value)


def test_remote_inputs_and_outputs_are_accepted(tmp_path):
    sheet = (
        "dataset\tinput\toutput\tinput_storage\n"
        "a\ts3://in/a.zarr\ts3://out/a.zarr\tarchive\n"
        "b\thttps://example.org/b.zarr\t\t\n"
    )
    config = write_sheet(tmp_path, sheet)
    config["storage"] = {"archive": {"endpoint": "http://127.0.0.1:9", "anon": True}}
    rows = load_samples(config, tmp_path)
    assert [r["input"] for r in rows.values()] == ["s3://in/a.zarr", "https://example.org/b.zarr"]
