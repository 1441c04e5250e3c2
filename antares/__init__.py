"""antares: object-based land-cover mapping from Sentinel data on the Open Data Cube.

The package does no work at import time; heavy libraries (datacube, rasterio,
geopandas, dask) are imported by the functions that need them.
"""

__version__ = "0.1.0"


def __getattr__(name):
    """``antares.Session`` (:class:`antares.pipeline.session.Session`), imported on first use."""
    if name == "Session":
        from antares.pipeline.session import Session

        return Session
    raise AttributeError(f"module 'antares' has no attribute {name!r}")
