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
