"""Packaging for antares, an open land-cover mapping platform on the Open Data Cube."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


class build_py_with_shipped_data(build_py):
    """build_py, then config/ and recipes/ copied into the built package as antares/_data/ (package data that
    antares.resources finds through importlib.resources, so that a wheel works outside this checkout)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's config/ and recipes/
        for name in ("config", "recipes"):
            target = Path(self.build_lib) / "antares" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(
    name="antares",
    version="0.1.0",
    description="Object-based land-cover mapping from Sentinel data on the Open Data Cube",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["antares", "antares.*"]),
    include_package_data=True,
    package_data={
        "antares": [
            "db/alembic.ini",
            "db/migrations/*.py",
            "db/migrations/versions/*.py",
            "data/products/*.yaml",
            "data/grids/*.yaml",
            "export/assets/leaflet/*",
            "export/assets/leaflet/images/*.png",
        ],
    },
    install_requires=[
        "datacube>=1.9.20,<2",  # its [postgres] extra builds psycopg2 from source; psycopg2-binary below provides the same module
        "odc-geo>=0.4",
        "odc-stac>=0.5",
        "pystac>=1.9",
        "pystac-client>=0.7",  # antares search / fetch: STAC API item search with paging
        "requests>=2.31",  # antares fetch: resumable asset downloads (HTTP Range)
        "urllib3>=2",  # HTTPResponse.read1: bytes received before a dropped connection are kept for the resume
        "sqlalchemy>=2.0,<2.1",
        "geoalchemy2>=0.14",
        "alembic>=1.12",
        "psycopg2-binary>=2.9",
        "click>=8.1",
        "pyyaml>=6",
        "numpy>=1.24",
        "xarray>=2023.1",
        "h5netcdf>=1.3",  # xarray's engine for NetCDF-4 cubes (the netcdf preparer)
        "h5py>=3.8",  # h5netcdf's HDF5 backend: h5netcdf 1.7 no longer installs it
        "rasterio>=1.3.9",
        "shapely>=2.0",
        "pyproj>=3.5",
        "geopandas>=0.14",
        "pyogrio>=0.8",
        "dask[distributed]>=2023.1",
        "tqdm>=4.60",
        "numba>=0.60",  # compiled core of the bis segmenter
        "scikit-image>=0.22",  # slic and felzenszwalb segmenters; graycoprops entropy (>= 0.19), the GLCM reference
        "scikit-learn>=1.3",  # random forest, cross-validation, accuracy metrics
        "threadpoolctl>=3.1",  # imadmaf: one BLAS thread for the small products of the iMAD iterations
        "lightgbm>=4",
        "xgboost-cpu>=2",  # model_fit -model xgb (antares3's xgb); the CPU-only wheel (the xgboost wheel pulls in CUDA's NCCL)
        "skops>=0.10",  # model serialisation that cannot run code on load (trusted-types list)
        "joblib>=1.3",  # reads the pickled models of earlier versions (--trust-pickle)
        "cryptography>=41",  # per-run TLS certificates of the local dask cluster (Security.temporary)
        "matplotlib>=3.7",  # confusion-matrix plots and map quicklooks
        "nrt>=0.3,<0.4",  # antares monitor: JRC near-real-time break monitoring (EWMA, CuSum, MoSum, CCDC, IQR); EUPL-1.2
        "spyndex>=0.6",  # the Awesome Spectral Indices catalogue (formulas, constants; JSON shipped in the wheel)
        "folium>=0.15",  # antares view: Leaflet HTML maps (Leaflet itself is vendored in antares/export/assets)
        "torch>=2.2",  # temporal deep models (antares.deep: PSE-TAE, L-TAE, TempCNN); the Makefile installs the CPU wheel first
        "safetensors>=0.4",  # deep-model weights in a format that cannot run code on load (never pickle)
        "pyarrow>=14",  # parquet sample time-series tables (model_fit_timeseries --timeseries)
    ],
    extras_require={
        # antares fetch --catalog planetary-computer signs asset hrefs with it (imported only for that catalog)
        "planetary-computer": ["planetary-computer>=1"],
        # scipy: an independent reference in tests; wheel: pip builds the test plugin (tests/plugins) with setuptools
        # planetary-computer: its signing is tested against a SAS endpoint on 127.0.0.1 (tests/cli/test_stac_sign_planetary.py)
        "test": ["pytest>=7", "pytest-timeout>=2", "scipy>=1.10", "wheel>=0.40", "planetary-computer>=1"],
    },
    cmdclass={"build_py": build_py_with_shipped_data},
    entry_points={
        "console_scripts": ["antares=antares.cli.main:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: GIS",
    ],
)
