import pandas as pd
from conftest import run_pipeline, settings_for

from ngff_resave.catalog import COLUMNS, build_catalog, human_bytes, write_catalog
from ngff_resave.storage import write_local_json


def test_catalog_columns_and_values(examples, tmp_path):
    results = tmp_path / "results"
    for dataset in ("plate", "image-with-labels"):
        folder = results / dataset
        run = run_pipeline(settings_for(dataset, examples[dataset],
                                        tmp_path / f"{dataset}.ome.zarr", origin="https://o"),
                           folder / "convert")
        write_local_json(folder / "plan.json", run["plan"])
        write_local_json(folder / "metadata.json", run["metadata"])
        write_local_json(folder / "validation.json", run["report"])
    frame = build_catalog(results, ["plate", "image-with-labels"], "https://host/bucket/")
    write_catalog(frame, results / "catalog.csv")
    read = pd.read_csv(results / "catalog.csv", dtype=str, keep_default_na=False)
    assert list(read.columns) == COLUMNS
    assert COLUMNS[:15] == ["url", "written", "written_human_readable", "origin", "shape",
                            "shards", "chunks", "dimension_names", "license", "name",
                            "description", "organismId", "fbbiId", "wells", "images"]
    plate, image = read.to_dict(orient="records")
    assert plate["url"] == "https://host/bucket/plate.ome.zarr"
    assert plate["wells"] == "4" and plate["images"] == "8"
    assert image["wells"] == "" and image["images"] == ""
    assert image["shape"] == "1,2,3,150,130" and image["dimension_names"] == "t,c,z,y,x"
    assert plate["organismId"] == "NCBI:txid9606" and plate["fbbiId"] == "obo:FBbi_00000369"
    assert plate["kind"] == "plate" and plate["valid"] == "True"
    assert int(plate["written"]) > 0 and int(plate["read"]) > 0
    assert plate["written_human_readable"] == human_bytes(int(plate["written"]))
    assert image["levels"] == "3" and image["arrays"] == "6" and image["dtype"] == "uint16"


def test_human_bytes_matches_the_challenge_spelling():
    assert human_bytes(512) == "512.00 B"
    assert human_bytes(417816396) == "398.46 MB"
