"""Band descriptions that hold several dates: how many, and which band of which date."""

import datetime as dt
import re

import pytest

from antares.errors import InvalidInputError
from antares.prepare.bands import dated_bands, several_dates

UTC = dt.timezone.utc


def test_several_dates_counts_suffixed_and_prefixed_descriptions():
    assert several_dates(["B02", "B03", "B02_1", "B03_1", "B02_2", "B03_2"]) == 3
    assert several_dates(["20190206_B02", "20190206_B03", "20190216_B02", "20190216_B03"]) == 2
    assert several_dates(["B02", "B03", "B04", "B8A", "SCL"]) == 0
    assert several_dates(["VV_dB", "VH_dB"]) == 0  # a suffix that is not a step


def test_dated_bands_with_a_date_group():
    out = dated_bands("f.tif", ["20190206_B02", "20190206_B04", "20190216_B02", "20190216_B04"],
                      re.compile(r"(?P<date>\d{8})_(?P<band>B\d\d)"))
    assert out == {dt.datetime(2019, 2, 6, tzinfo=UTC): {"B02": 1, "B04": 2},
                   dt.datetime(2019, 2, 16, tzinfo=UTC): {"B02": 3, "B04": 4}}


def test_dated_bands_with_steps_start_and_monthly_step():
    names = ["B2", "B4", "B2_1", "B4_1", "B2_2", "B4_2"]
    out = dated_bands("f.tif", names, re.compile(r"(?P<band>B\d)(?:_(?P<step>\d+))?"), start="2021-01-01", step="MS")
    assert list(out) == [dt.datetime(2021, m, 1, tzinfo=UTC) for m in (1, 2, 3)]
    assert out[dt.datetime(2021, 3, 1, tzinfo=UTC)] == {"B02": 5, "B04": 6}


def test_dated_bands_refusals_name_the_cause():
    pattern = re.compile(r"(?P<band>B\d\d)(?:_(?P<step>\d+))?")
    with pytest.raises(InvalidInputError, match="f.tif holds 2 dates in one file; date them with --dates"):
        dated_bands("f.tif", ["B02", "B02_1"], pattern)
    with pytest.raises(InvalidInputError, match="holds 2 dates in one file .* but --dates lists 3"):
        dated_bands("f.tif", ["B02", "B02_1"], pattern, dates=["2020-01-01", "2020-02-01", "2020-03-01"])
    with pytest.raises(InvalidInputError, match="band 2 description 'QA' does not match --band-pattern"):
        dated_bands("f.tif", ["B02", "QA"], pattern, dates=["2020-01-01"])
