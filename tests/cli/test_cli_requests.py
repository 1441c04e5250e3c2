"""The CLI builds request objects from its flags and names its flags when a request refuses a value.

The requests speak the library's vocabulary (``tile_size``, ``cv_spatial``); these commands must
still say ``--tile-size``, ``--cv-spatial``, ``-extra``, exit 2, on one line, before anything
touches the database (the URL given is a closed port: reaching it would print another error).
"""

import pytest

from antares.cli.main import cli

REFUSED = "postgresql+psycopg2://odc@127.0.0.1:5999/antares"
BBOX = ["--bbox", "12.48", "52.45", "12.69", "52.53"]


@pytest.mark.parametrize("args, message", [
    (["segment", "--algorithm", "slic", "-p", "feat", "-n", "seg", *BBOX, "--tile-size", "64", "--margin", "32"],
     "--tile-size must be larger than twice --margin. Got 64 and 32."),
    (["model_fit", "-model", "rf", "-p", "feat", "-t", "train", "--name", "m", "--cv-spatial", "-5"],
     "--cv-spatial must be a block size > 0 in metres. Got -5.0."),
    (["model_fit", "-model", "rf", "-p", "feat", "-t", "train", "--name", "m", "-extra", "foo=1"],
     "-extra: rf has no parameter 'foo'; valid parameters:"),
    (["model_fit", "-model", "rf", "-p", "feat", "-t", "train", "--name", "m", "-extra", "n_estimators"],
     "-extra 'n_estimators' must be KEY=VALUE, e.g. n_estimators=300."),
    (["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-01-01", "-e", "2018-12-31", *BBOX, "--name", "out",
      "--tile-size", "-5"],
     "--tile-size must be an integer >= 1. Got -5."),
], ids=["segment-margin", "fit-cv-spatial", "fit-extra-unknown", "fit-extra-syntax", "recipe-tile-size"])
def test_request_refusals_name_the_flags(runner, tmp_path, args, message):
    result = runner.invoke(cli, args, env={"ANTARES_DB_URL": REFUSED, "ANTARES_HOME": str(tmp_path)})
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"antares: error: {message}"), lines[0]
    assert "Traceback" not in result.output
