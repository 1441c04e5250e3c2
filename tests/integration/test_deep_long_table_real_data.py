"""A long table (one row per sample and date) built from the real WorldCereal wide table: the same arrays, CLI and API."""

import numpy as np
import pytest

from helpers import db_rows, invoke_ok

TABLE = "worldcereal-belgium/original/test_public_extractions.parquet"


@pytest.fixture(scope="module")
def long_table(data_dir, tmp_path_factory):
    """The wide table re-shaped with pandas, S1 decoded to dB with numpy, rows without any value dropped."""
    import re

    import pandas as pd

    wide = pd.read_parquet(data_dir / TABLE)
    column = re.compile(r"^(OPTICAL|SAR)-([A-Za-z0-9]+)-ts(\d+)-\d+m$")
    parts = {}
    for name in wide.columns:
        match = column.match(name)
        if match:
            kind, channel, step = match.group(1), match.group(2), int(match.group(3))
            raw = wide[name].to_numpy(np.float64)
            value = np.where(raw == 65535, np.nan, raw)
            if kind == "SAR":
                with np.errstate(divide="ignore"):
                    value = np.where(value > 0, 20 * np.log10(value) - 83, np.nan)
            parts.setdefault(step, {})[("s2" if kind == "OPTICAL" else "s1", channel)] = value
    start = np.datetime64("2016-12-01", "M")
    rows = []
    for step, channels in sorted(parts.items()):
        frame = pd.DataFrame({f"{s}_{c}": v for (s, c), v in channels.items()})
        frame.insert(0, "date", str((start + step).astype("datetime64[D]")))
        frame.insert(0, "crop", wide["sampling_label"].to_numpy())
        frame.insert(0, "sid", wide["sample_id"].astype(str).to_numpy())
        rows.append(frame)
    long = pd.concat(rows, ignore_index=True)
    values = [c for c in long.columns if c[:3] in ("s1_", "s2_")]
    long = long[long[values].notna().any(axis=1)]  # irregular: a sample's dates without any value are left out
    long = long.sample(frac=1, random_state=0)  # rows in any order ...
    first = long.groupby("sid", sort=False).ngroup()  # ... samples by their first row: put them in the wide order
    order = {s: i for i, s in enumerate(wide["sample_id"].astype(str))}
    long = long.assign(_o=long["sid"].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
    assert first.max() + 1 == len(order)
    folder = tmp_path_factory.mktemp("long")
    path = folder / "long.parquet"
    long.reset_index(drop=True).to_parquet(path)
    mapping = folder / "map.yaml"
    channels = "\n".join(f"  {c}: {c[:2]}/{c[3:]}" for c in values)
    mapping.write_text(f"sample_id: sid\nlabel: crop\ndate: date\nstart: 2016-12-01\nsteps: 12\nchannels:\n{channels}\n")
    return path, mapping, len(long), 12 * len(wide)


def test_long_equals_wide(data_dir, long_table):
    from antares.deep.table import read_table

    path, mapping, rows, full = long_table
    assert rows < full  # some (sample, date) rows are missing: the long table's dates are irregular
    wide = read_table(data_dir / TABLE, "sampling_label", min_samples=9)
    long = read_table(path, None, min_samples=9, mapping=mapping)
    assert len(long.ids) == 481 and list(long.ids) == list(wide.ids) and list(long.labels) == list(wide.labels)
    for sensor in ("s1", "s2"):
        a, b = long.sets[sensor], wide.sets[sensor]
        assert a.channels == b.channels and a.values.dtype == b.values.dtype == np.float32
        np.testing.assert_array_equal(a.days, b.days)
        np.testing.assert_array_equal(a.values, b.values)  # exactly, NaN where both are NaN


def test_cli_and_api_fit_the_long_table(settings, runner, long_table):
    from antares.config import load_settings
    from antares.pipeline.train import load_model
    from antares.train import fit_timeseries

    path, mapping, _, _ = long_table
    env = {"ANTARES_DB_URL": settings.db_url}
    params = ["-extra", "epochs=2", "-extra", "batch_size=32"]
    result = invoke_ok(runner, ["model_fit_timeseries", "--timeseries", str(path), "--mapping", str(mapping),
                                "--min-samples", "9", "-model", "tempcnn", "--name", "deep_long", "--seed", "3",
                                "--device", "cpu", *params], env)
    assert "tempcnn fitted on 481 samples" in result.output
    (label, stored_mapping), = db_rows(settings.db_url, "SELECT metadata->>'label', metadata->>'mapping' "
                                                        "FROM antares.model WHERE name = 'deep_long'")
    assert (label, stored_mapping) == ("crop", str(mapping))
    estimator, _ = load_model(load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={}),
                              "deep_long")
    from antares.deep.table import read_table

    table = read_table(path, None, min_samples=9, mapping=mapping)
    api = fit_timeseries(table.select(["s2"]), table.labels, "tempcnn", seed=3,
                         params={"epochs": 2, "batch_size": 32, "device": "cpu"})
    np.testing.assert_array_equal(estimator.predict_proba(table.select(["s2"])),
                                  api.estimator.predict_proba(table.select(["s2"])))
