"""Requests of ingest, ingest_samples, ingest_from_raster, monitor and model_fit_timeseries (issue 17).

Each refuses bad values when made, in the library's vocabulary (the fields it names are in
``exc.fields``; no command-line flag in the message), and the CLI's flag map for it rewrites
those fields into exactly the messages the commands printed before requests.
"""

import dataclasses
import re

import pytest

from antares.errors import InvalidInputError, UsageError
from antares.pipeline.input_requests import IngestRequest, RasterSampleRequest, SampleFileRequest

FLAG = re.compile(r"(^|\s|\()-{1,2}[a-z]")  # "-b", "--dataset", "(--sensors" at the start of a word


def _refused(make, error, fields, start):
    with pytest.raises(error) as info:
        make()
    message = str(info.value)
    assert message.startswith(start), message
    assert getattr(info.value, "fields", ()) == fields
    assert not FLAG.search(message), f"a flag in a library message: {message}"
    return info.value


@pytest.mark.parametrize("make, error, fields, start", [
    (lambda: IngestRequest("src", "Out Name", None, None), UsageError, ("name",), "name must be a name of"),
    (lambda: IngestRequest("src", "out", None, None, resampling="fancy"), UsageError, (),
     "unknown resampling 'fancy'; valid: nearest, bilinear, cubic, cubic_spline, lanczos, average, mode, min, max, "
     "med, q1, q3."),
    (lambda: IngestRequest("src", "out", None, None, time=("2018-01-01",)), UsageError, ("time",),
     "time must be a (begin, end) pair of dates"),
    (lambda: IngestRequest("src", "out", None, None, time=("2018-02-01", "2018-01-01")), InvalidInputError, (),
     "the period ends (2018-01-01) before it begins (2018-02-01)."),
    (lambda: SampleFileRequest("training", "f.gpkg", "cls", "my set"), UsageError, ("name",),
     "name must be a name of"),
    (lambda: SampleFileRequest("training", "f.gpkg", "cls", "train", scheme="../osm"), UsageError, ("scheme",),
     "scheme must be a name of"),
    (lambda: SampleFileRequest("testing", "f.gpkg", "cls", "train"), InvalidInputError, (),
     "sample set kind must be one of training, validation; got 'testing'."),
    (lambda: SampleFileRequest("training", "f.gpkg", "cls", "train", every=0), InvalidInputError, ("every",),
     "every must be a whole number of 1 or more (keep every N-th feature), got 0."),
    (lambda: SampleFileRequest("training", "f.gpkg", "cls", "train", every=True), InvalidInputError, ("every",),
     "every must be a whole number"),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd"), UsageError, ("per_class", "fraction"),
     "give exactly one of per_class N or fraction F."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, fraction=0.1), UsageError,
     ("per_class", "fraction"), "give exactly one of per_class N or fraction F."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=0), UsageError, ("per_class",),
     "per_class must be an integer >= 1. Got 0."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", fraction=1.5), UsageError, ("fraction",),
     "fraction must be in (0, 1]. Got 1.5."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, patch=0), UsageError, ("patch",),
     "patch must be an integer >= 1. Got 0."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, holdout=0.3), InvalidInputError,
     ("holdout", "holdout_name"), "holdout must be a share in (0, 1) with holdout_name NAME. Got 0.3."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, holdout=1.0, holdout_name="val"),
     InvalidInputError, ("holdout", "holdout_name"), "holdout must be a share in (0, 1)"),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, holdout=0.3, holdout_name="v;al"), UsageError,
     ("holdout_name",), "holdout_name must be a name of"),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, kind="test"), InvalidInputError, (),
     "sample set kind must be one of training, validation; got 'test'."),
], ids=lambda v: v if isinstance(v, str) else None)
def test_requests_refuse_in_library_vocabulary(make, error, fields, start):
    _refused(make, error, fields, start)


def test_ingest_request_holds_a_frozen_period():
    request = IngestRequest("src", "out", None, None, time=["2018-01-01", "2018-12-31"], resampling="average")
    assert request.time == ("2018-01-01", "2018-12-31") and request.resampling == "average"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.resampling = "nearest"
    assert IngestRequest("src", "out", None, None, time=("2018-01-01", "2018-12-31"), resampling="average") == request


def test_sample_requests_keep_their_values_frozen():
    request = RasterSampleRequest("r.tif", "train", "tcd", fraction=0.5, classes=[1, 3], bins=[10.0, 50.0])
    assert request.classes == (1, 3) and request.bins == (10.0, 50.0)
    assert RasterSampleRequest("r.tif", "train", "tcd", per_class=3, classes=[], bins=[]).classes is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.seed = 1
    files = SampleFileRequest("validation", "f.gpkg", "cls", "val", every=5)
    assert (files.kind, files.scheme, files.every) == ("validation", None, 5)


@pytest.mark.parametrize("make, flags, message", [
    (lambda: SampleFileRequest("training", "f.gpkg", "cls", "my set"), "SAMPLE_FILE_FLAGS", "--dataset must be a name of"),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd"), "RASTER_SAMPLE_FLAGS",
     "give exactly one of --per-class N or --fraction F."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, holdout=0.3), "RASTER_SAMPLE_FLAGS",
     "--holdout must be a share in (0, 1) with --holdout-dataset NAME. Got 0.3."),
    (lambda: RasterSampleRequest("r.tif", "train", "tcd", per_class=5, holdout_name="a b"), "RASTER_SAMPLE_FLAGS",
     "--holdout-dataset must be a name of"),
], ids=["dataset", "per-class-or-fraction", "holdout", "holdout-dataset"])
def test_the_cli_flag_maps_give_the_messages_of_before(make, flags, message):
    """The words of the commands' messages before requests (tests/reliability/test_bad_input.py, test_samples.py)."""
    from antares.cli import options

    with pytest.raises((UsageError, InvalidInputError)) as info, options.flag_names(getattr(options, flags)):
        make()
    assert str(info.value).startswith(message), str(info.value)


def test_every_field_a_message_names_has_a_flag():
    """The fields a refusal names are rewritten by the command's flag map (else the CLI would print a field)."""
    from antares.cli.options import INGEST_FLAGS, RASTER_SAMPLE_FLAGS, SAMPLE_FILE_FLAGS, in_flags

    not_flags = {"area", "scheduler", "workers", "overwrite", "kind"}
    for request, flags in [(IngestRequest, INGEST_FLAGS), (SampleFileRequest, SAMPLE_FILE_FLAGS),
                           (RasterSampleRequest, RASTER_SAMPLE_FLAGS)]:
        missing = {f.name for f in dataclasses.fields(request)} - not_flags - set(flags)
        assert not missing, f"{request.__name__}: no flag for {missing}"
    assert in_flags("name must be a name of letters. Got 'a b'.", ("name",), INGEST_FLAGS) == \
        "--name must be a name of letters. Got 'a b'."


def test_the_stages_take_settings_request_progress():
    import inspect

    from antares.pipeline.ingest import ingest
    from antares.pipeline.samples import ingest_from_raster, ingest_samples

    for stage in (ingest, ingest_samples, ingest_from_raster):
        assert list(inspect.signature(stage).parameters) == ["settings", "request", "progress"], stage.__name__
