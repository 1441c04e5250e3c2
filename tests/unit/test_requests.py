"""Request objects (antares.pipeline.requests): validated when made, in the library's vocabulary.

The messages name the request's fields (``tile_size``, ``aggregation``), never a command-line
flag; the CLI's rewriting into flag names is checked here on its own (``in_flags``,
``flag_names``) and through the commands in ``tests/cli/test_cli_requests.py``.
"""

import dataclasses
import importlib
import inspect
import pkgutil
import re

import pytest

from antares.errors import InvalidInputError, UsageError
from antares.pipeline.change_requests import ChangeExportRequest, ChangeRequest
from antares.pipeline.requests import (FitRequest, PixelRequest, PredictRequest, RecipeRequest, SampleRequest,
                                       SegmentRequest, ViewRequest, refusal, takes)

FLAG = re.compile(r"(^|\s)-{1,2}[a-z]")  # "-sp", "--cv-spatial", "--tile-size" at the start of a word


def _refused(make, error, fields, start):
    with pytest.raises(error) as info:
        make()
    message = str(info.value)
    assert message.startswith(start), message
    assert info.value.fields == fields
    assert not FLAG.search(message), f"a flag in a library message: {message}"
    return message


# ---- each request's validation, in library vocabulary

@pytest.mark.parametrize("make, error, fields, start", [
    (lambda: RecipeRequest("s2_10m_001", "2018-01-01", "2018-12-31", "bad-name", None),
     UsageError, ("name",), "name must be a name of"),
    (lambda: RecipeRequest("s2_10m_001", "2018-01-01", "2018-12-31", "out", None, tile_size=0),
     UsageError, ("tile_size",), "tile_size must be an integer >= 1. Got 0."),
    (lambda: SegmentRequest("feat", "seg", None, "slic", tile_size=64, margin=32),
     UsageError, ("tile_size", "margin"), "tile_size must be larger than twice margin. Got 64 and 32."),
    (lambda: SegmentRequest("feat", "seg", None, "slic", margin=-1),
     UsageError, ("tile_size", "margin"), "tile_size must be larger than twice margin. Got 1024 and -1."),
    (lambda: SampleRequest("feat", "train", aggregation="mode"),
     UsageError, ("aggregation",), "aggregation must be one of mean, median, min, max, std or a percentile pNN (p10, p90). Got 'mode'."),
    (lambda: FitRequest("rf", "feat", "train", "m", aggregation="mode"),
     UsageError, ("aggregation",), "aggregation must be one of mean, median, min, max, std or a percentile pNN (p10, p90). Got 'mode'."),
    (lambda: FitRequest("rf", "feat", "train", "m", unit="objects"),
     UsageError, ("unit",), "unit must be polygons, pixels or segments. Got 'objects'."),
    (lambda: FitRequest("rf", "feat", "train", "m", cv_spatial=0.0),
     UsageError, ("cv_spatial",), "cv_spatial must be a block size > 0 in metres. Got 0.0."),
    (lambda: FitRequest("rf", "feat", "train", "m", cv_spatial=float("nan")),
     UsageError, ("cv_spatial",), "cv_spatial must be a block size > 0 in metres. Got nan."),
    (lambda: FitRequest("rf", "feat", "train", "m", cv=1),
     UsageError, ("cv",), "cv must be at least 2. Got 1."),
    (lambda: FitRequest("rf", "feat", "train", "m", sample=1.5),
     UsageError, ("sample",), "sample must be a fraction in (0, 1]. Got 1.5."),
    (lambda: FitRequest("rf", "feat", "train", "m", per_class=0),
     UsageError, ("per_class",), "per_class must be an integer >= 1. Got 0."),
    (lambda: FitRequest("rf", "feat", "train", "m", extra=("foo=1",)),
     UsageError, ("extra",), "extra: rf has no parameter 'foo'"),
    (lambda: FitRequest("rf", "feat", "train", "m", time=("2018-01-01",)),
     UsageError, ("time",), "time must be a (begin, end) pair of dates"),
    (lambda: PredictRequest("feat", "rf", "seg", "map", aggregation="mode"),
     InvalidInputError, ("aggregation",), "aggregation must be one of mean, median, min, max, std or a percentile pNN (p10, p90). Got 'mode'."),
    (lambda: PredictRequest("feat", "rf", "seg", "Map 2018"),
     UsageError, ("name",), "name must be a name of"),
    (lambda: PixelRequest("feat", "rf", "map/../x"),
     UsageError, ("name",), "name must be a name of"),
    (lambda: ChangeRequest("imadmaf", "chg", "a", "b", None, mmu=-5.0),
     UsageError, ("mmu",), "mmu must be an area > 0 in m². Got -5.0."),
    (lambda: ChangeRequest("imadmaf", "chg", "a", "b", None, mmu=float("nan")),
     UsageError, ("mmu",), "mmu must be an area > 0 in m². Got nan."),
    (lambda: ChangeRequest("distance", "chg", "a", "b", None, tile_size=8),
     UsageError, ("tile_size",), "tile_size must be at least 16 pixels. Got 8."),
    (lambda: ChangeRequest("distance", "chg", "a", "b", None, workers=0),
     UsageError, ("workers",), "workers must be at least 1. Got 0."),
    (lambda: ChangeRequest("distance", "chg", "a", "b", None, lc_pre="map_2018"),
     UsageError, ("lc_pre", "lc_post"), "lc_pre and lc_post go together"),
    (lambda: ChangeRequest("distance", "chg", "s2", "s2", None, pre_year=2018, post_year=2018),
     UsageError, ("pre_product", "post_product", "pre_year", "post_year"), "pre_product and post_product are both s2 in 2018"),
    (lambda: ChangeRequest("distance", "chg 2018", "a", "b", None),
     UsageError, ("name",), "name must be a name of"),
    (lambda: ChangeExportRequest("chg", ""),
     UsageError, ("path",), "path must name the output file"),
    (lambda: ViewRequest((), "map.html"), UsageError, ("names",), "names must give at least one layer"),
    (lambda: ViewRequest(("a", "b", "a"), "map.html"), UsageError, ("names",), "names must name each layer once. Got a b a."),
    (lambda: ViewRequest(("a",), "map.png"), UsageError, ("path",),
     "path must be a file name ending in .html (the map is an HTML page). Got 'map.png'."),
    (lambda: ViewRequest(("a",), "map.html", basemap="google"), UsageError, ("basemap",),
     "basemap must be None or one of osm. Got 'google'."),
    (lambda: ViewRequest(("a",), "map.html", cmap="nope"), UsageError, ("cmap",), "cmap must be a matplotlib colour map"),
    (lambda: ViewRequest(("a",), "map.html", max_objects=0), UsageError, ("max_objects",),
     "max_objects must be an integer >= 1. Got 0."),
    (lambda: ViewRequest(("a",), "map.html", raster_size=8), UsageError, ("raster_size",),
     "raster_size must be an integer >= 16. Got 8."),
], ids=lambda v: v if isinstance(v, str) else None)
def test_requests_refuse_in_library_vocabulary(make, error, fields, start):
    _refused(make, error, fields, start)


def test_change_request_checks_the_method_and_keeps_its_parameters():
    request = ChangeRequest("imadmaf", "chg", "a", "b", None, bands=["red", "nir"], params={"components": 2})
    assert request.bands == ("red", "nir") and request.params["components"] == 2
    assert request.params["threshold"] == "chi2" and request.params["max_samples"] == 100_000  # defaults filled in
    with pytest.raises(UsageError, match="The 'components' parameter of imadmaf"):
        ChangeRequest("imadmaf", "chg", "a", "b", None, params={"components": 0})
    with pytest.raises(UsageError, match="unknown algorithm 'pca'"):
        ChangeRequest("pca", "chg", "a", "b", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.mmu = 5.0
    assert ChangeRequest("distance", "chg", "s2", "s2", None, pre_year=2018, post_year=2020).pre_year == 2018


def test_period_checks_are_those_of_the_stage():
    with pytest.raises(InvalidInputError, match=r"the period ends \(2017-01-01\) before it begins \(2018-01-01\)"):
        RecipeRequest("s2_10m_001", "2018-01-01", "2017-01-01", "out", None)
    with pytest.raises(InvalidInputError, match="dates must be YYYY-MM-DD"):
        SegmentRequest("feat", "seg", None, "slic", time="2018-02-30")
    with pytest.raises(InvalidInputError, match="the period ends"):
        PixelRequest("feat", "rf", "px", time=("2018-02-01", "2018-01-01"))


def test_plugin_refusals_pass_through_unchanged():
    """Errors of the segmenter and estimator declarations already name parameters, not flags."""
    with pytest.raises(UsageError, match=r"^The 'compactness' parameter of slic must be a float > 0. Got -1"):
        SegmentRequest("feat", "seg", None, "slic", params={"compactness": -1.0})
    with pytest.raises(UsageError, match="unknown segmenter 'watershed'"):
        SegmentRequest("feat", "seg", None, "watershed")
    with pytest.raises(UsageError, match=r"^rf: The 'n_estimators' parameter of RandomForestClassifier must be"):
        FitRequest("rf", "feat", "train", "m", extra=("n_estimators=0",))


def test_a_valid_request_holds_what_validation_made():
    seg = SegmentRequest("feat", "seg", None, "slic", params={"n_segments": 50}, bands=["B04", "B08"])
    assert type(seg.segmenter).__name__ == "SLIC"
    assert seg.segmenter.get_params()["n_segments"] == 50
    assert seg.bands == ("B04", "B08") and seg.labels == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.tile_size = 10

    fit = FitRequest("rf", "feat", "train", "m", unit="pixels", extra=["n_estimators=7"],
                     grid_specs=["max_depth=2,4"], time=["2018-01-01", "2018-12-31"], tile_size=256)
    assert fit.params == {"n_estimators": 7}
    assert fit.grid == {"max_depth": [2, 4]}
    assert fit.extra == ("n_estimators=7",) and fit.time == ("2018-01-01", "2018-12-31")
    samples = fit.samples()
    assert (samples.product, samples.training_set, samples.with_pixels, samples.tile_size, samples.time) == \
        ("feat", "train", True, 256, ("2018-01-01", "2018-12-31"))
    assert FitRequest("rf", "feat", "train", "m").samples().with_pixels is False


def test_takes_accepts_a_request_or_its_fields():
    seen = []

    @takes(PredictRequest)
    def stage(settings, request: PredictRequest, progress=None):
        """A stage."""
        seen.append((settings, request, progress))
        return request

    request = PredictRequest("feat", "rf", "seg", "map")
    assert stage("s", request) is request
    assert stage("s", "feat", "rf", "seg", "map", progress=print) == request  # the old form builds the same
    assert seen[-1][2] is print
    assert stage("s", "feat", "rf", "seg", "map", aggregation="std").aggregation == "std"
    with pytest.raises(InvalidInputError, match="^aggregation must be one of"):
        stage("s", "feat", "rf", "seg", "map", aggregation="mode")
    assert list(inspect.signature(stage).parameters) == ["settings", "request", "progress"]
    assert stage.__doc__ == "A stage."


def test_refusal_keeps_the_error_class_and_exit_code():
    exc = refusal("aggregation must be one of mean. Got 'x'.", "aggregation", error=InvalidInputError)
    assert isinstance(exc, InvalidInputError) and exc.exit_code == 1 and exc.fields == ("aggregation",)


# ---- the CLI's rewriting into flag names

def test_in_flags_rewrites_only_the_fields_named():
    from antares.cli.options import FIT_FLAGS, SEGMENT_FLAGS, in_flags

    assert in_flags("tile_size must be larger than twice margin. Got 64 and 32.", ("tile_size", "margin"),
                    SEGMENT_FLAGS) == "--tile-size must be larger than twice --margin. Got 64 and 32."
    assert in_flags("aggregation must be one of mean, median. Got 'aggregation'.", ("aggregation",), FIT_FLAGS) == \
        "-sp must be one of mean, median. Got 'aggregation'."  # the value echoed back stays as given
    assert in_flags("extra: rf has no parameter 'foo'; valid parameters: extra_trees.", ("extra",), FIT_FLAGS) == \
        "-extra: rf has no parameter 'foo'; valid parameters: extra_trees."
    assert in_flags("cv must be at least 2; cv_spatial too.", ("cv",), FIT_FLAGS) == \
        "--cv must be at least 2; cv_spatial too."  # a field not named by the error is left alone
    assert in_flags("tile_size must be > 0.", ("tile_size",), {}) == "tile_size must be > 0."


def test_flag_names_rewrites_request_errors_and_passes_others():
    from antares.cli.options import FIT_FLAGS, SEGMENT_FLAGS, flag_names
    from antares.errors import NotFoundError

    with pytest.raises(UsageError) as info, flag_names(FIT_FLAGS):
        FitRequest("rf", "feat", "train", "m", cv_spatial=-5.0)
    assert str(info.value) == "--cv-spatial must be a block size > 0 in metres. Got -5.0."
    assert info.value.exit_code == 2
    with pytest.raises(UsageError) as info, flag_names(SEGMENT_FLAGS):
        SegmentRequest("feat", "seg", None, "slic", tile_size=64, margin=32)
    assert str(info.value) == "--tile-size must be larger than twice --margin. Got 64 and 32."
    with pytest.raises(NotFoundError) as info, flag_names(FIT_FLAGS):
        raise NotFoundError("model 'cv' does not exist.")  # no fields: untouched
    assert str(info.value) == "model 'cv' does not exist."


def test_every_field_of_a_command_request_has_a_flag():
    """A request field the CLI sets from a flag can be named by an error: the CLI knows its flag."""
    from antares.cli.options import FIT_FLAGS, PREDICT_FLAGS, RECIPE_FLAGS, SEGMENT_FLAGS

    not_flags = {"area", "gridspec", "scheduler", "workers", "overwrite", "labels", "trust_pickle", "segmenter",
                 "params", "grid"}
    for request, flags in [(RecipeRequest, RECIPE_FLAGS), (SegmentRequest, SEGMENT_FLAGS), (FitRequest, FIT_FLAGS),
                           (PredictRequest, PREDICT_FLAGS), (PixelRequest, PREDICT_FLAGS)]:
        missing = {f.name for f in dataclasses.fields(request)} - not_flags - set(flags)
        assert not missing, f"{request.__name__}: no flag for {missing}"


# ---- no public function of the pipeline takes more than 8 parameters

# every public function of the pipeline takes at most 8 parameters (issue 17): none is left to convert
NOT_YET: set[str] = set()


def _public_functions():
    import antares.pipeline

    for info in pkgutil.iter_modules(antares.pipeline.__path__):
        module = importlib.import_module(f"antares.pipeline.{info.name}")
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value
            elif inspect.isclass(value):  # their methods (a dataclass's generated __init__ is a record, not an API)
                for attr, method in vars(value).items():
                    if inspect.isfunction(method) and not attr.startswith("_"):
                        yield f"{module.__name__}.{name}.{attr}", method


def test_no_public_pipeline_function_takes_more_than_8_parameters():
    counts = {name: len(inspect.signature(fn).parameters) for name, fn in _public_functions()}
    assert "antares.pipeline.train.model_fit" in counts and "antares.pipeline.tiles.index_tiles" in counts
    too_many = {name: n for name, n in counts.items() if n > 8 and name not in NOT_YET}
    assert not too_many, f"more than 8 parameters (take a request object instead): {too_many}"
    for stage in ("recipe.apply_recipe", "segment.segment", "train.model_fit", "train.training_features",
                  "predict.model_predict_object", "predict_pixels.model_predict", "change.detect_change",
                  "change_export.change_to_vector", "view.view"):
        assert counts[f"antares.pipeline.{stage}"] == 3, stage  # (settings, request, progress)


def test_view_request_keeps_names_in_order_as_a_tuple():
    request = ViewRequest(["map_2017", "segmentation:seg", "b10"], "map.HTML", max_objects=10)
    assert request.names == ("map_2017", "segmentation:seg", "b10") and request.max_objects == 10
    assert ViewRequest("map_2017", "m.htm").names == ("map_2017",)  # one name is one layer, not its letters
    assert request == ViewRequest(("map_2017", "segmentation:seg", "b10"), "map.HTML", max_objects=10)
