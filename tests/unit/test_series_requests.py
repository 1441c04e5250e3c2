"""Requests of monitor and model_fit_timeseries (issue 17): refused when made, in library vocabulary.

The CLI's flag maps turn the fields named into exactly the messages the commands printed before
requests (tests/integration/test_monitor_real_data.py, test_deep_timeseries_real_data.py).
"""

import dataclasses
import datetime as dt
import re

import pytest

from antares.errors import InvalidInputError, UsageError
from antares.pipeline.series_requests import MonitorRequest, TimeSeriesFitRequest, check_periods

FLAG = re.compile(r"(^|\s|\()-{1,2}[a-z]")
H, M = ("2016-01-01", "2018-12-31"), ("2019-01-01", "2020-12-31")


def _monitor(**kw):
    args = dict(product="s2", name="breaks", area=None, index="ndvi", history=H, monitoring=M)
    args.update(kw)
    return MonitorRequest(**args)


@pytest.mark.parametrize("make, error, fields, start", [
    (lambda: _monitor(name="a/b"), UsageError, ("name",), "name must be a name of"),
    (lambda: _monitor(monitoring=("2018-06-01", "2020-12-31")), InvalidInputError, ("monitoring", "history"),
     "monitoring 2018-06-01 2020-12-31 must begin after history 2016-01-01 2018-12-31 ends."),
    (lambda: _monitor(history=("2016-01-01",)), UsageError, ("history",), "history must be a (begin, end) pair"),
    (lambda: _monitor(history=("2016-13-01", "2017-01-01")), InvalidInputError, (), "dates must be YYYY-MM-DD"),
    (lambda: _monitor(method="bfast"), UsageError, (), "unknown method 'bfast'"),
    (lambda: _monitor(params={"sensitivity": -1}), UsageError, (),
     "The 'sensitivity' parameter of ewma must be a float > 0. Got -1"),
    (lambda: _monitor(index="nosuch"), UsageError, (), "unknown index"),
    (lambda: _monitor(tile_size=0), UsageError, ("tile_size",), "tile_size must be an integer >= 1. Got 0."),
    (lambda: TimeSeriesFitRequest("m 1", "t.parquet", "label", "ltae", ["s2"]), UsageError, ("name",),
     "name must be a name of"),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "rf", ["s2"]), UsageError, ("kind",),
     "kind 'rf' is not a pixel-set time-series model; valid: pse_tae, ltae, tempcnn"),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s1", "s2"]), UsageError, ("sensors", "fusion"),
     "sensors s1,s2 needs fusion early, pse, tsa or decision."),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s2"], fusion="pse"), UsageError, ("fusion",),
     "fusion pse needs two sensors; got s2."),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s2", "s2"]), UsageError, ("sensors",),
     "sensors must be one or both of s1, s2, each once."),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", []), UsageError, ("sensors",),
     "sensors must be one or both of s1, s2, each once."),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s2"], extra=["nosuch=1"]), UsageError,
     ("extra",), "extra: ltae has no parameter 'nosuch'"),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s2"], min_samples=1), UsageError,
     ("min_samples",), "min_samples must be at least 2. Got 1."),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s2"], scheme="x-y"), UsageError,
     ("scheme",), "scheme must be a name of"),
    (lambda: TimeSeriesFitRequest("m", "t.parquet", None, "ltae", ["s2"]), UsageError,
     ("label",), "label (the column with the class names) is needed unless a mapping names it."),
], ids=lambda v: v if isinstance(v, str) else None)
def test_requests_refuse_in_library_vocabulary(make, error, fields, start):
    with pytest.raises(error) as info:
        make()
    message = str(info.value)
    assert message.startswith(start), message
    assert getattr(info.value, "fields", ()) == fields
    assert not FLAG.search(message), message


def test_a_monitor_request_holds_what_validation_made():
    from antares.monitor import METHODS

    request = _monitor(history=("2016-01-01T00:00:00", "2018-12-31"), scl_keep=[4, 5],
                       params={"sensitivity": 4.0})
    assert request.history == ("2016-01-01", "2018-12-31") and request.scl_keep == (4, 5)
    assert request.values == METHODS["ewma"].check({"sensitivity": 4.0}) and request.values["sensitivity"] == 4.0
    assert request.recipe.indices[0].upper() == "NDVI"
    h0, h1, m0, m1 = request.bounds
    assert (h0, m0) == (dt.datetime(2016, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc))
    assert h1 < m0 < m1
    assert request.bounds == check_periods(H, M)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.method = "cusum"


def test_a_timeseries_fit_request_holds_the_checked_parameters():
    request = TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s1", "s2"], fusion="tsa", device="cpu",
                                   extra=["epochs=3"], seed=4)
    assert request.sensors == ("s1", "s2") and request.extra == ("epochs=3",)
    assert request.params == {"epochs": 3, "interpolate": "nn", "device": "cpu", "fusion": "tsa"}
    single = TimeSeriesFitRequest("m", "t.parquet", "label", "tempcnn", "s2")
    assert single.sensors == ("s2",) and "fusion" not in single.params
    long = TimeSeriesFitRequest("m", "long.csv", None, "tempcnn", "s2", mapping="map.yaml")  # the mapping names it
    assert long.label is None and long.mapping == "map.yaml"
    with pytest.raises(dataclasses.FrozenInstanceError):
        single.kind = "ltae"


def test_the_cli_flag_map_gives_the_messages_of_before():
    from antares.cli.options import MONITOR_FLAGS, TIMESERIES_FIT_FLAGS, flag_names

    for make, message in [
        (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "rf", ["s2"]),
         "-model 'rf' is not a pixel-set time-series model; valid: pse_tae, ltae, tempcnn"),
        (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s1", "s2"]),
         "--sensors s1,s2 needs --fusion early, pse, tsa or decision"),
        (lambda: TimeSeriesFitRequest("m", "t.parquet", "label", "ltae", ["s2"], min_samples=1),
         "--min-samples must be at least 2. Got 1."),
    ]:
        with pytest.raises(UsageError) as info, flag_names(TIMESERIES_FIT_FLAGS):
            make()
        assert str(info.value).startswith(message), str(info.value)

    with pytest.raises(InvalidInputError) as info, flag_names(MONITOR_FLAGS):
        _monitor(monitoring=("2018-06-01", "2020-12-31"))
    assert str(info.value) == ("--monitor 2018-06-01 2020-12-31 must begin after --history 2016-01-01 2018-12-31 "
                               "ends.")


def test_every_field_a_message_names_has_a_flag():
    from antares.cli.options import MONITOR_FLAGS, TIMESERIES_FIT_FLAGS

    not_flags = {"area", "scheduler", "workers", "overwrite", "block", "values", "recipe", "bounds", "params"}
    for request, flags in [(MonitorRequest, MONITOR_FLAGS), (TimeSeriesFitRequest, TIMESERIES_FIT_FLAGS)]:
        missing = {f.name for f in dataclasses.fields(request)} - not_flags - set(flags)
        assert not missing, f"{request.__name__}: {missing}"


def test_the_stages_take_settings_request_progress():
    import inspect

    from antares.pipeline.fit_timeseries import model_fit_timeseries
    from antares.pipeline.monitor import monitor

    for stage in (monitor, model_fit_timeseries):
        assert list(inspect.signature(stage).parameters) == ["settings", "request", "progress"], stage.__name__
