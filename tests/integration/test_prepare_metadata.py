"""`antares prepare_metadata` and `antares product add`: documents and definitions round-trip into the index."""

import yaml

from antares.cli.main import cli
from antares.cube.index import connect


def test_prepare_metadata_then_product_add_then_index(settings, data_dir, tmp_path, runner):
    env = {"ANTARES_DB_URL": settings.db_url}
    outfile = tmp_path / "ro.yaml"
    result = runner.invoke(cli, ["prepare_metadata", "--path", str(data_dir / "nrt-romania-s2l2a" / "geotiff"),
                                 "--dataset_name", "s2_bands", "--product", "ro_prepared", "--no-verify",
                                 "--outfile", str(outfile)], env=env)
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(outfile.read_text()))
    assert len(docs) == 140 and len({d["id"] for d in docs}) == 140
    assert all(d["product"]["name"] == "ro_prepared" and d["crs"] == "epsg:3035" for d in docs)
    assert set(docs[0]["grids"]) == {"default", "20m"}
    assert docs[0]["measurements"]["B11"]["grid"] == "20m"
    product_file = tmp_path / "ro.product.yaml"
    assert f"add it with 'antares product add {product_file}'" in result.output
    # nothing was indexed by prepare_metadata
    dc = connect(settings.db_url)
    assert dc.index.products.get_by_name("ro_prepared") is None
    dc.close()

    added = runner.invoke(cli, ["product", "add", str(product_file)], env=env)
    assert added.exit_code == 0 and "product ro_prepared: added" in added.output
    again = runner.invoke(cli, ["product", "add", str(product_file)], env=env)
    assert again.exit_code == 0 and "product ro_prepared: unchanged" in again.output
    # the prepared ids are the ones `index` gives: indexing afterwards adds the same datasets
    indexed = runner.invoke(cli, ["index", "--path", str(data_dir / "nrt-romania-s2l2a" / "geotiff"), "--dataset_name",
                                  "s2_bands", "--product", "ro_prepared", "--no-verify"], env=env)
    assert "140 dataset(s) indexed into ro_prepared" in indexed.output
    dc = connect(settings.db_url)
    assert {str(ds.id) for ds in dc.find_datasets(product="ro_prepared")} == {d["id"] for d in docs}
    dc.close()


def test_product_add_bad_files(settings, tmp_path, runner):
    env = {"ANTARES_DB_URL": settings.db_url}
    missing = runner.invoke(cli, ["product", "add", str(tmp_path / "nope.yaml")], env=env)
    assert missing.exit_code == 1 and "cannot read product definition" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nmetadata_type: eo3\nmeasurements: [{name: x}]\n")
    invalid = runner.invoke(cli, ["product", "add", str(bad)], env=env)
    assert invalid.exit_code == 1 and "is invalid" in invalid.output
    assert len(invalid.output.strip().splitlines()) == 1
