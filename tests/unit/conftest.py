"""tests/unit stands on its own: no database, and no shared real data.

Unit tests synthesise their inputs (numpy, odc-geo ``GeoBox.from_bbox``, files written under
``tmp_path``); the checks on the real scenes of ``../shared/data`` live in ``tests/integration``.
A unit test that asks for ``data_dir`` fails here, whether or not the shared data exist.
"""

import pytest


@pytest.fixture(scope="session")
def data_dir():
    pytest.fail("tests/unit does not read the shared real data: synthesise the input (numpy, odc-geo "
                "GeoBox.from_bbox) or put the real-data check in tests/integration")
