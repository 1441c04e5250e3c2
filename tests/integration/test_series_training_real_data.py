"""The real WorldCereal extractions stored with ``ingest_training --timeseries`` read back equal to the file."""

import numpy as np

from helpers import db_rows, invoke_ok

TABLE = "worldcereal-belgium/original/test_public_extractions.parquet"


def test_worldcereal_round_trip(settings, runner, data_dir):
    import pandas as pd

    from antares.deep.table import read_table
    from antares.pipeline.series_sets import read_series_set

    path = data_dir / TABLE
    out = invoke_ok(runner, ["ingest_training", "--timeseries", str(path), "--field", "sampling_label",
                             "-n", "wc_series"], {"ANTARES_DB_URL": settings.db_url}).output
    frame = pd.read_parquet(path)
    labelled = int(frame["sampling_label"].notna().sum())
    assert f"training set wc_series (time series): {labelled} sample(s)" in out
    assert "s2: 12 date(s) 2016-12-01 .. 2017-11-01, 10 channel(s)" in out
    stored = read_series_set(settings, "wc_series").table
    table = read_table(path, "sampling_label")
    assert len(stored.ids) == labelled and list(stored.ids) == list(table.ids)
    assert list(stored.labels) == list(table.labels)
    for sensor in ("s1", "s2"):
        a, b = stored.sets[sensor], table.sets[sensor]
        assert a.channels == b.channels and a.values.dtype == np.float32
        np.testing.assert_array_equal(a.days, b.days)
        np.testing.assert_array_equal(a.values, b.values)  # bit for bit, NaN where NaN
    (size,), = db_rows(settings.db_url, "SELECT sum(octet_length(p.series)) FROM antares.series_sample p "
                                        "JOIN antares.series_set s ON p.set_id = s.id WHERE s.name = 'wc_series'")
    assert size == labelled * 4 * 12 * (10 + 2)  # float32, no header, no padding
