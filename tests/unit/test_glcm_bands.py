"""``-sp ... glcm:M``: the per-object GLCM of chosen measurements only (parsing, columns, refusals)."""

import pytest
from click.testing import CliRunner

from antares.cli.main import cli
from antares.errors import UsageError
from antares.models.samples import (canonical_aggregation, feature_columns, glcm_bands_of, glcm_features_of,
                                    glcm_measurements, parse_aggregation)

REFUSED = "postgresql+psycopg2://odc@127.0.0.1:5999/antares"  # a closed port: reaching the database is another error


def test_band_choice_parses_to_columns_of_those_bands_only():
    sp = "mean glcm_entropy glcm_contrast glcm:NDVI glcm:B08 shape"
    assert parse_aggregation(sp) == (("mean",), True)
    assert glcm_bands_of(sp) == ("NDVI", "B08")
    assert glcm_features_of(sp) == ("contrast", "entropy")
    assert canonical_aggregation(sp) == "mean glcm_contrast glcm_entropy glcm:NDVI glcm:B08 shape"
    cols = feature_columns(["B04", "B08", "NDVI"], sp)
    assert cols[:3] == ["B04_mean", "B08_mean", "NDVI_mean"]
    assert cols[3:7] == ["NDVI_glcm_contrast", "B08_glcm_contrast", "NDVI_glcm_entropy", "B08_glcm_entropy"]
    assert not any(c.startswith("B04_glcm") for c in cols)
    # glcm:M alone asks for every feature; without glcm:M every measurement has the GLCM
    assert len(glcm_features_of("mean glcm:B08")) == 7 and canonical_aggregation("mean glcm:B08") == "mean glcm glcm:B08"
    assert glcm_measurements(["B04", "B08"], "mean glcm", "p") == ["B04", "B08"]
    assert glcm_measurements(["B04", "B08"], "mean glcm64 glcm:B08", "p") == ["B08"]


@pytest.mark.parametrize("sp", ["mean glcm:", "mean glcm:B08 glcm:B08", "glcm:B08", "mean glcm:$x"])
def test_malformed_band_choice_is_refused(sp):
    with pytest.raises(ValueError):
        parse_aggregation(sp)


def test_unknown_measurement_is_a_usage_error_naming_the_known_ones():
    with pytest.raises(UsageError, match=r"product p has no measurement NIR; its measurements are B04, B08") as info:
        glcm_measurements(["B04", "B08"], "mean glcm glcm:B08 glcm:NIR", "p")
    assert info.value.exit_code == 2


def test_cli_refuses_a_malformed_band_choice_in_one_line(tmp_path):
    args = ["model_fit", "-model", "rf", "-p", "feat", "-t", "train", "--name", "m", "--unit", "segments", "-s", "seg",
            "-sp", "mean", "glcm:", "shape"]
    result = CliRunner().invoke(cli, args, env={"ANTARES_DB_URL": REFUSED, "ANTARES_HOME": str(tmp_path)})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "'glcm:'" in lines[0] and "-sp" in lines[0], result.output
    assert "Traceback" not in result.output
