"""The terrain void policy (antares.recipes.voids): voids interpolated, aspect as an angle, nothing else changed."""

import numpy as np

from antares.recipes.voids import fill_terrain


def ramp():
    elevation = np.add.outer(np.arange(20.0), np.arange(20.0)).astype(np.float32)  # rises to the south-east
    aspect = np.where(np.arange(20) < 10, 350.0, 10.0)[None, :].repeat(20, 0).astype(np.float32)
    return {"elevation": elevation, "slope": np.full((20, 20), 5.0, np.float32), "aspect": aspect}


def test_no_void_changes_nothing():
    layers = ramp()
    filled, void = fill_terrain(layers)
    assert not void.any()
    for name, values in layers.items():
        np.testing.assert_array_equal(filled[name], values)


def test_void_is_interpolated_from_its_edge_and_only_there():
    layers = ramp()
    holed = {name: values.copy() for name, values in layers.items()}
    holed["elevation"][6:14, 6:14] = np.nan  # a void of the DEM: every layer is replaced there
    filled, void = fill_terrain(holed)
    assert void.sum() == 64 and void[6:14, 6:14].all()
    for name in layers:
        np.testing.assert_array_equal(filled[name][~void], layers[name][~void])
        assert np.isfinite(filled[name]).all()
    edge = layers["elevation"][5:15, 5:15]
    assert edge.min() <= filled["elevation"][void].min() and filled["elevation"][void].max() <= edge.max()
    np.testing.assert_allclose(filled["slope"][void], 5.0, rtol=1e-6)
    # aspect between 350 and 10 degrees is interpolated as an angle: near north, never near south
    north = np.minimum(filled["aspect"][void], 360 - filled["aspect"][void])
    assert north.max() <= 10 + 1e-3
    assert ((filled["aspect"] >= 0) & (filled["aspect"] < 360)).all()


def test_no_height_at_all_stays_nan():
    layers = {"elevation": np.full((4, 4), np.nan, np.float32), "slope": np.zeros((4, 4), np.float32)}
    filled, void = fill_terrain(layers)
    assert void.all() and np.isnan(filled["elevation"]).all() and np.isnan(layers["elevation"]).all()
