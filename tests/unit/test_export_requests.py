"""Request objects of db_to_vector, db_to_raster and validate (issue 23): validated on construction, fields named."""

import math

import pytest
from odc.geo.geom import box

from antares.errors import UsageError


def test_region_and_area_exclude_each_other_and_clip_needs_one():
    from antares.pipeline.export_requests import RasterRequest, ValidateRequest, VectorRequest

    area = box(13.0, 52.0, 13.1, 52.1, "EPSG:4326")
    for make in (lambda **k: VectorRequest("m", "m.gpkg", **k), lambda **k: RasterRequest("m", "m.tif", 10, **k),
                 lambda **k: ValidateRequest("m", "v", **k)):
        assert make(area=area).area is area and make(region="r").region == "r"
        with pytest.raises(UsageError, match="give region or area, not both") as info:
            make(region="r", area=area)
        assert info.value.fields == ("region", "area")
        with pytest.raises(UsageError, match="area must be an odc.geo Geometry. Got tuple"):
            make(area=(13.0, 52.0, 13.1, 52.1))
    with pytest.raises(UsageError, match="clip needs region or area"):
        VectorRequest("m", "m.gpkg", clip=True)
    assert VectorRequest("m", "m.gpkg", clip=True, area=area).clip
    with pytest.raises(UsageError, match="batch_size must be an integer >= 1. Got 0"):
        VectorRequest("m", "m.gpkg", batch_size=0)


@pytest.mark.parametrize("resolution", [0, -5, math.nan, math.inf, "10", True])
def test_raster_resolution_must_be_a_finite_positive_number(resolution):
    from antares.pipeline.export_requests import RasterRequest

    with pytest.raises(UsageError, match="resolution must be a number > 0 in units of the output CRS") as info:
        RasterRequest("m", "m.tif", resolution)
    assert info.value.fields == ("resolution",)


def test_old_positional_forms_build_the_same_request():
    from antares.pipeline.export_requests import RasterRequest, VectorRequest

    assert RasterRequest("m", "m.tif", 10, "EPSG:4326", "r", True, True, 256).window == 256
    assert RasterRequest("m", "m.tif", 10).resolution == 10.0 and isinstance(RasterRequest("m", "m.tif", 10).resolution,
                                                                             float)
    request = VectorRequest("m", "m.gpkg", "r", "lay", "GPKG", "EPSG:4326", True, True, True, 50)
    assert (request.region, request.layer, request.clip, request.dissolve, request.batch_size) == ("r", "lay", True,
                                                                                                   True, 50)


def test_area_zone_densifies_a_degrees_box_in_a_projected_crs():
    import shapely
    from pyproj import Transformer

    from antares.db.regions import Zone
    from antares.pipeline.export_requests import area_zone

    area = box(13.0, 52.0, 13.5, 52.3, "EPSG:4326")
    assert area_zone("jalisco", None, 32633) == "jalisco"
    zone = area_zone(None, area, 32633)
    assert isinstance(zone, Zone) and zone.srid == 32633
    polygon = shapely.from_wkt(zone.wkt)
    assert len(polygon.exterior.coords) > 20  # curved edges kept, not 4 corners
    to_utm = Transformer.from_crs(4326, 32633, always_xy=True)
    mid_north = shapely.Point(to_utm.transform(13.25, 52.3))  # the middle of the north edge, transformed alone
    assert polygon.exterior.distance(mid_north) < 1.0
