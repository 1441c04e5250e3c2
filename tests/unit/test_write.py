"""Read-back checks of antares.cube.write: valid pixels counted like numpy, a short or cut file is a WriteError."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from antares.cube.write import check_written, count_valid, reserve_file
from antares.errors import WriteError


def _tif(path, data, nodata):
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype.name,
                   crs="EPSG:32633", transform=Affine(10, 0, 300000, 0, -10, 5800000), nodata=nodata, tiled=True,
                   blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def arrays():
    rng = np.random.default_rng(3)
    floats = rng.random((700, 600)).astype(np.float32)
    floats[rng.random(floats.shape) < 0.3] = np.nan
    codes = rng.integers(0, 5, (700, 600)).astype(np.uint8)
    return floats, codes


def test_count_valid_of_arrays_and_files_equals_numpy(tmp_path, arrays):
    floats, codes = arrays
    assert count_valid(floats) == np.isfinite(floats).sum() < floats.size
    assert count_valid(codes, 0) == np.count_nonzero(codes) < codes.size
    assert count_valid(codes) == codes.size
    assert count_valid(_tif(tmp_path / "f.tif", floats, np.nan)) == np.isfinite(floats).sum()
    assert count_valid(_tif(tmp_path / "c.tif", codes, 0)) == np.count_nonzero(codes)


def test_check_written_refuses_a_short_or_cut_file(tmp_path, arrays):
    _, codes = arrays
    path = _tif(tmp_path / "c.tif", codes, 0)
    check_written(path, int(np.count_nonzero(codes)))  # what was written: no error
    with pytest.raises(WriteError, match=r"c\.tif: \d+ valid pixel\(s\) read back of \d+ written; .* free of "):
        check_written(path, int(np.count_nonzero(codes)) + 1)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # blocks past the cut were never written
    with pytest.raises(WriteError, match=r"cannot write .*cut\.tif: .* free of "):
        check_written(cut, int(np.count_nonzero(codes)))


def test_reserve_file_allocates_its_blocks(tmp_path):
    path = reserve_file(tmp_path / "stage.dat", 3 * 2**20 + 5)
    info = path.stat()
    assert info.st_size == 3 * 2**20 + 5 and info.st_blocks * 512 >= info.st_size  # not sparse
    assert info.st_mode & 0o777 == 0o600
    assert not np.fromfile(path, np.uint8).any()


def test_write_cog_bands_writes_every_band_as_given_in_one_cog(tmp_path, arrays):
    from odc.geo.geobox import GeoBox

    from antares.cube.write import count_valid_bands, write_cog_bands

    floats, codes = arrays
    geobox = GeoBox(floats.shape, Affine(10, 0, 300000, 0, -10, 5800000), "EPSG:32633")
    second = np.where(np.isnan(floats), 0.5, -floats).astype(np.float32)
    path = write_cog_bands([floats, second], geobox, tmp_path / "step.tif", float("nan"))
    qa = write_cog_bands([codes.astype(np.uint16), np.where(codes == 4, 65535, codes.astype(np.uint16)).astype(np.uint16)], geobox,
                         tmp_path / "step_qa.tif", 65535)
    with rasterio.open(path) as src:
        assert src.count == 2 and src.dtypes == ("float32", "float32") and np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(1), floats)  # NaN in the same places, every value bit-equal
        np.testing.assert_array_equal(src.read(2), second)
        assert src.overviews(1) == [] and src.block_shapes[0] == (512, 512)
        assert src.transform == geobox.affine and src.crs.to_epsg() == 32633
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.compression.name.upper() == "ZSTD"
    with rasterio.open(qa) as src:
        assert src.dtypes == ("uint16", "uint16") and src.nodata == 65535
        np.testing.assert_array_equal(src.read(2), np.where(codes == 4, 65535, codes.astype(np.uint16)))
    assert count_valid_bands(qa) == [codes.size, int((codes != 4).sum())]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.tif", "step_qa.tif"]  # no temporary file left
    with pytest.raises(ValueError, match="one dtype"):
        write_cog_bands([floats, codes], geobox, tmp_path / "mixed.tif", 0)
    assert not (tmp_path / "mixed.tif").exists()


def test_write_cog_bands_refuses_a_file_that_reads_back_short(tmp_path, arrays, monkeypatch):
    """A read-back that finds fewer valid pixels than written is a WriteError, and nothing is left."""
    from odc.geo.geobox import GeoBox

    import antares.cube.write as write

    floats, _ = arrays
    geobox = GeoBox(floats.shape, Affine(10, 0, 300000, 0, -10, 5800000), "EPSG:32633")
    real = write.count_valid_bands
    monkeypatch.setattr(write, "count_valid_bands", lambda p: [n - 1 for n in real(p)])  # as a cut file would read
    with pytest.raises(WriteError, match="band 1"):
        write.write_cog_bands([floats], geobox, tmp_path / "short.tif", float("nan"))
    assert list(tmp_path.iterdir()) == []


def test_write_cog_bands_with_gdal_threads_writes_the_same_pixels(tmp_path, arrays):
    """``threads`` > 1 (GDAL compresses the tiles on its own threads, as the time-series writers do): every band
    bit-equal to the arrays and to a file written on one thread, as many tiles, one COG."""
    from odc.geo.geobox import GeoBox

    from antares.cube.write import write_cog_bands

    floats, codes = arrays
    big = np.tile(floats, (3, 4))  # 2100 x 2400: 5 x 5 tiles of 512 to compress
    second = np.where(np.isnan(big), 0.25, big * -3).astype(np.float32)
    geobox = GeoBox(big.shape, Affine(10, 0, 300000, 0, -10, 5800000), "EPSG:32633")
    one = write_cog_bands([big, second], geobox, tmp_path / "one.tif", float("nan"), threads=1)
    four = write_cog_bands([big, second], geobox, tmp_path / "four.tif", float("nan"), threads=4)
    qa = np.tile(codes, (3, 4)).astype(np.uint16)
    qa4 = write_cog_bands([qa, qa * 7], geobox, tmp_path / "qa4.tif", 65535, threads=4)
    with rasterio.open(one) as a, rasterio.open(four) as b, rasterio.open(qa4) as q:
        assert b.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and b.block_shapes[0] == (512, 512)
        for band, want in ((1, big), (2, second)):
            got = b.read(band)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(got.view(np.uint32), a.read(band).view(np.uint32))
        np.testing.assert_array_equal(q.read(1), qa)
        np.testing.assert_array_equal(q.read(2), qa * 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["four.tif", "one.tif", "qa4.tif"]


def test_write_failure_offers_free_space_only_for_a_full_disk(tmp_path):
    """A directory in the way or no permission is not fixed by freeing space; a full disk (ENOSPC) is."""
    import errno

    from antares.cube.write import write_failure

    target = tmp_path / "step.tif"
    in_the_way = write_failure(target, IsADirectoryError(errno.EISDIR, "Is a directory"),
                               "free some space or choose another --outdir")
    assert "Is a directory" in str(in_the_way)
    assert "free some space" not in str(in_the_way)
    assert "choose another --outdir, then re-run" in str(in_the_way)
    full = write_failure(target, OSError(errno.ENOSPC, "No space left on device"),
                         "free some space or choose another --outdir")
    assert "No space left on device" in str(full) and "free some space or choose another --outdir" in str(full)
