"""``antares search`` / ``antares fetch`` against a STAC API server on 127.0.0.1 (tests/stac_api_server.py).

The server serves STAC items describing COGs cropped from the real Romania Sentinel-2 L2A bands
(64×64 px at 10 m, 32×32 px at 20 m, at an offset, so grid and shape differ from the source files),
with ``file:size`` and ``file:checksum`` (sha2-256 multihash), and the COGs themselves with HTTP
range requests. The loaded pixels are compared with the same windows read from the source files.
"""

import hashlib
import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from antares.cli.main import cli
from antares.cube.index import connect
from antares.cube.load import load
from stac_api_server import StacApiServer

ROMANIA = "nrt-romania-s2l2a/geotiff"
#: date -> eo:cloud_cover of its item
DATES = {"2018-06-11": 8.5, "2018-08-15": 3.0, "2018-09-29": 61.0}
#: asset key -> (resolution folder, band file)
ASSETS = {"blue": ("10m", "B02"), "green": ("10m", "B03"), "red": ("10m", "B04"), "scl": ("20m", "SCL")}
COL, ROW, SIZE = 20, 10, 64  # the 10 m window; the 20 m one is half of each


def _window(res):
    half = res == "20m"
    return Window(COL // 2, ROW // 2, SIZE // 2, SIZE // 2) if half else Window(COL, ROW, SIZE, SIZE)


def _crop(source, dest, res):
    with rasterio.open(source) as src:
        window = _window(res)
        data = src.read(1, window=window)
        profile = {"driver": "COG", "width": data.shape[1], "height": data.shape[0], "count": 1, "dtype": data.dtype,
                   "crs": src.crs, "transform": src.window_transform(window), "nodata": src.nodata,
                   "compress": "DEFLATE", "blocksize": 256}
    with rasterio.open(dest, "w", **profile) as out:
        out.write(data, 1)
    return data


@pytest.fixture(scope="module")
def stac_api(data_dir, tmp_path_factory):
    """The server with one item per date of DATES, the cropped COGs, and the expected pixels ``{(date, key): array}``."""
    root = tmp_path_factory.mktemp("stac-cogs")
    files, expected, items = {}, {}, []
    for date, cloud in DATES.items():
        assets = {}
        for key, (res, band) in ASSETS.items():
            name = f"{date}_{band}.tif"
            expected[date, key] = _crop(data_dir / ROMANIA / res / date / f"{band}.tif", root / name, res)
            files[name] = root / name
            with rasterio.open(root / name) as src:
                transform, shape = list(src.transform)[:6], list(src.shape)
            raw = (root / name).read_bytes()
            assets[key] = {"type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"],
                           "proj:shape": shape, "proj:transform": transform,
                           "raster:bands": [{"nodata": 0, "data_type": "uint8" if band == "SCL" else "uint16"}],
                           "file:size": len(raw), "file:checksum": "1220" + hashlib.sha256(raw).hexdigest(),
                           "href": "{server}/files/" + name}
            if band != "SCL":
                assets[key]["eo:bands"] = [{"name": key, "common_name": key}]
        assets["thumbnail"] = {"href": "https://example.invalid/thumb.jpg", "type": "image/jpeg", "roles": ["thumbnail"]}
        compact = date.replace("-", "")
        items.append({"type": "Feature", "stac_version": "1.0.0", "id": f"S2B_34TFR_{compact}_0_L2A",
                      "collection": "sentinel-2-l2a",
                      "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                                          "https://stac-extensions.github.io/file/v2.1.0/schema.json"],
                      "geometry": {"type": "Polygon", "coordinates": [[[22.14, 45.20], [22.16, 45.20], [22.16, 45.21],
                                                                       [22.14, 45.21], [22.14, 45.20]]]},
                      "bbox": [22.14, 45.20, 22.16, 45.21],
                      "properties": {"datetime": f"{date}T09:32:05Z", "platform": "sentinel-2b", "proj:epsg": 3035,
                                     "eo:cloud_cover": cloud, "grid:code": "MGRS-34TFR"},
                      "links": [], "assets": assets})
    with StacApiServer(items, files, root) as server:
        yield server, expected


def run(runner, settings, tmp_path, *args):
    return runner.invoke(cli, list(args), env={"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(tmp_path)})


def search_args(server, *extra):
    return ["--catalog", server.url, "--collection", "sentinel-2-l2a", "--bbox", "22.0", "45.0", "22.5", "45.5",
            "--datetime", "2018-06-01/2018-09-30", *extra]


def loaded(settings, product):
    dc = connect(settings.db_url)
    try:
        datasets = sorted(dc.find_datasets(product=product), key=lambda ds: ds.center_time) if dc.index.products.get_by_name(product) else []
        data = load(dc, product, None, ["B02", "B03", "B04", "SCL"]) if datasets else None
        return datasets, data
    finally:
        dc.close()


def check_pixels(data, expected, dates):
    assert [str(t)[:10] for t in data.time.values] == dates
    assert data.sizes["y"] == data.sizes["x"] == SIZE and data.odc.crs.epsg == 3035
    for i, date in enumerate(dates):
        for key, band in (("blue", "B02"), ("green", "B03"), ("red", "B04")):
            got = data[band].values[i]
            assert got.dtype == np.uint16 and np.array_equal(got, expected[date, key]), (date, band)
        scl = np.repeat(np.repeat(expected[date, "scl"], 2, 0), 2, 1)  # 20 m onto the 10 m grid (nearest)
        assert np.array_equal(data["SCL"].values[i], scl), (date, "SCL")


def test_search_filters_and_prints_items(stac_api, settings, runner, tmp_path):
    server, _ = stac_api
    table = run(runner, settings, tmp_path, "search", *search_args(server, "--cloud-cover-lt", "40"))
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["id", "date", "cloud", "cover", "tile"]
    assert [line.split()[0] for line in lines[1:]] == ["S2B_34TFR_20180611_0_L2A", "S2B_34TFR_20180815_0_L2A"]
    assert lines[1].split()[1:] == ["2018-06-11T09:32:05", "8.500", "34TFR"]
    as_json = run(runner, settings, tmp_path, "search", *search_args(server, "--limit", "2", "--json"))
    assert as_json.exit_code == 0, as_json.output
    assert [item["id"] for item in json.loads(as_json.stdout)] == ["S2B_34TFR_20180611_0_L2A", "S2B_34TFR_20180815_0_L2A"]
    outside = run(runner, settings, tmp_path, "search", "--catalog", server.url, "--collection", "sentinel-2-l2a",
                  "--bbox", "10", "45", "11", "46")
    assert outside.exit_code == 0 and outside.stdout.strip() == "No item matches."
    bad = run(runner, settings, tmp_path, "search", "--catalog", server.url, "--collection", "sentinel-2-l2a",
              "--bbox", "23", "45", "22", "46")
    assert bad.exit_code == 2 and "--bbox 23.0 45.0 22.0 46.0 is not W S E N" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_fetch_downloads_resumes_indexes_and_loads_source_pixels(stac_api, settings, runner, tmp_path):
    server, expected = stac_api
    server.set_faults({"2018-06-11_B03.tif": "drop-once"})  # the connection drops mid-file: the next request resumes
    out = tmp_path / "downloads"
    before = len(server.requests)
    result = run(runner, settings, tmp_path, "fetch", *search_args(server, "--cloud-cover-lt", "40"),
                 "--assets", "blue,green,red,scl", "--outdir", str(out), "-p", "stac_fetch_dl")
    server.set_faults({})
    assert result.exit_code == 0, result.output
    assert "8 file(s) downloaded" in result.stdout
    assert "2 dataset(s) indexed into stac_fetch_dl, 0 already indexed, 0 failed (of 2 item(s))" in result.stdout
    gets = [r for r in server.requests[before:] if r[1] == "/files/2018-06-11_B03.tif"]
    assert len(gets) == 2 and gets[0][2] is None
    size = (out / "S2B_34TFR_20180611_0_L2A" / "green.tif").stat().st_size
    assert gets[1][2] is not None and 0 < int(gets[1][2][len("bytes="):-1]) < size  # resumed from a byte inside
    assert not list(out.rglob("*.part"))
    for date in ("2018-06-11", "2018-08-15"):
        folder = out / f"S2B_34TFR_{date.replace('-', '')}_0_L2A"
        with rasterio.open(folder / "blue.tif") as src:
            assert np.array_equal(src.read(1), expected[date, "blue"])
        item = json.loads((folder / f"{folder.name}.json").read_text())
        assert item["assets"]["blue"]["href"] == "blue.tif" and "thumbnail" not in item["assets"]

    datasets, data = loaded(settings, "stac_fetch_dl")
    assert len(datasets) == 2 and datasets[0].uri.startswith("file://")
    check_pixels(data, expected, ["2018-06-11", "2018-08-15"])

    again = run(runner, settings, tmp_path, "fetch", *search_args(server, "--cloud-cover-lt", "40"),
                "--assets", "blue,green,red,scl", "--outdir", str(out), "-p", "stac_fetch_dl")
    assert again.exit_code == 0, again.output
    assert "0 file(s) downloaded (0.0 kB), 8 already complete; 0 dataset(s) indexed into stac_fetch_dl, " \
           "2 already indexed" in again.stdout


def test_fetch_no_download_indexes_remote_hrefs(stac_api, settings, runner, tmp_path):
    server, expected = stac_api
    out = tmp_path / "items"
    before = len(server.requests)
    result = run(runner, settings, tmp_path, "fetch", *search_args(server), "--assets", "blue,green,red,scl",
                 "--outdir", str(out), "--no-download", "-p", "stac_fetch_remote")
    assert result.exit_code == 0, result.output
    assert "0 file(s) downloaded" in result.stdout and "3 dataset(s) indexed into stac_fetch_remote" in result.stdout
    assert not [r for r in server.requests[before:] if r[1].startswith("/files/")]  # indexing read no file
    assert sorted(p.suffix for p in out.rglob("*") if p.is_file()) == [".json"] * 3
    datasets, data = loaded(settings, "stac_fetch_remote")
    assert datasets[0].metadata_doc["measurements"]["B02"]["path"].startswith(server.url + "/files/")
    check_pixels(data, expected, list(DATES))
    ranged = [r for r in server.requests[before:] if r[1].startswith("/files/") and r[2]]
    assert ranged  # GDAL read the COGs with range requests


def test_fetch_http_500_fails_in_one_line_and_indexes_nothing(stac_api, settings, runner, tmp_path):
    server, _ = stac_api
    server.set_faults({"2018-08-15_B04.tif": "500"})
    try:
        result = run(runner, settings, tmp_path, "fetch", *search_args(server, "--datetime", "2018-08-01/2018-08-31"),
                     "--assets", "blue,red", "--outdir", str(tmp_path / "d"), "-p", "stac_fetch_500")
    finally:
        server.set_faults({})
    assert result.exit_code == 1, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("antares: error: nothing indexed into stac_fetch_500")
    assert "asset red" in errors[0] and "HTTP 500" in errors[0] and "Traceback" not in result.output
    assert loaded(settings, "stac_fetch_500")[0] == []
    assert not (tmp_path / "d" / "S2B_34TFR_20180815_0_L2A" / "red.tif").exists()


def test_fetch_truncated_file_is_refused_and_not_indexed(stac_api, settings, runner, tmp_path):
    server, _ = stac_api
    server.set_faults({"2018-06-11_B02.tif": "truncated"})
    out = tmp_path / "d"
    try:
        result = run(runner, settings, tmp_path, "fetch", *search_args(server, "--datetime", "2018-06-01/2018-06-30"),
                     "--assets", "blue,scl", "--outdir", str(out), "-p", "stac_fetch_cut")
    finally:
        server.set_faults({})
    assert result.exit_code == 1, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "asset blue" in errors[0], result.output
    assert "the catalog and the file disagree" in errors[0]  # Content-Length against file:size
    folder = out / "S2B_34TFR_20180611_0_L2A"
    assert not (folder / "blue.tif").exists() and not list(out.rglob("*.part"))
    assert not (folder / f"{folder.name}.json").exists()
    assert loaded(settings, "stac_fetch_cut")[0] == []
