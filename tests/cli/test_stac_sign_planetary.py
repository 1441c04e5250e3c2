"""Planetary Computer signing (issue 21), without the internet.

The ``planetary-computer`` package signs asset hrefs on Azure blob storage with a SAS token per
storage container, which it asks from its SAS endpoint (``PC_SDK_SAS_URL``). Here that endpoint is
the test STAC server on 127.0.0.1 (``/sas/v1/token/ACCOUNT/CONTAINER``), and ``antares search
--sign planetary-computer`` on that server's STAC API signs the items it found: each blob href
gains the token of its container (asked once per container, with the subscription key), other
hrefs stay as they are. A refused token is one error line.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import planetary_computer
import pytest
from planetary_computer.settings import Settings as PcSettings

from antares.cli.main import cli
from stac_api_server import StacApiServer

BLOB = "https://prvacct.blob.core.windows.net"
HREFS = {"B02": f"{BLOB}/sentinel2-l2/34/T/FR/B02.tif", "B03": f"{BLOB}/sentinel2-l2/34/T/FR/B03.tif",
         "SCL": f"{BLOB}/scl-container/34/T/FR/SCL.tif", "thumbnail": "https://example.invalid/thumb.jpg"}


def _item(n: int) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"S2B_34TFR_2018060{n}_0_L2A", "collection": "sentinel-2-l2a",
            "geometry": {"type": "Polygon", "coordinates": [[[22.14, 45.20], [22.16, 45.20], [22.16, 45.21],
                                                             [22.14, 45.21], [22.14, 45.20]]]},
            "bbox": [22.14, 45.20, 22.16, 45.21], "links": [],
            "properties": {"datetime": f"2018-06-0{n}T09:32:05Z", "eo:cloud_cover": 10.0},
            "assets": {k: {"href": href, "type": "image/tiff", "roles": ["data"]} for k, href in HREFS.items()}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with StacApiServer([_item(1), _item(2)], {}, tmp_path_factory.mktemp("pc-sign")) as srv:
        yield srv


@pytest.fixture
def pc_env(server, monkeypatch):
    """planetary_computer pointed at the test server's SAS endpoint, with its settings and token cache fresh."""
    monkeypatch.setenv("PC_SDK_SAS_URL", f"{server.url}/sas/v1/token")
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "prv-test-key")
    PcSettings.get.cache_clear()
    planetary_computer.sas.TOKEN_CACHE.clear()
    server.set_faults({})
    yield {"PC_SDK_SAS_URL": f"{server.url}/sas/v1/token", "PC_SDK_SUBSCRIPTION_KEY": "prv-test-key"}
    PcSettings.get.cache_clear()
    planetary_computer.sas.TOKEN_CACHE.clear()


def _search(runner, server, env, *extra):
    return runner.invoke(cli, ["search", "--catalog", server.url, "--collection", "sentinel-2-l2a", "--json", *extra],
                         env=env)


def _tokens(server) -> list[tuple]:
    return [r for r in server.requests if r[0] == "TOKEN"]


def test_sign_planetary_computer_adds_each_containers_sas_token(runner, server, pc_env):
    before = len(_tokens(server))
    result = _search(runner, server, pc_env, "--sign", "planetary-computer")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert len(items) == 2
    asked = _tokens(server)[before:]
    # one request per container (the package caches the token), with the subscription key
    assert sorted(asked) == [("TOKEN", "prvacct/scl-container", "prv-test-key"), ("TOKEN", "prvacct/sentinel2-l2", "prv-test-key")]
    for item in items:
        for key, href in HREFS.items():
            signed = item["assets"][key]["href"]
            if key == "thumbnail":
                assert signed == href  # not on blob storage: left alone
                continue
            base, _, query = signed.partition("?")
            container = urlparse(href).path.split("/")[1]
            assert base == href
            params = parse_qs(query)
            assert params["sig"] == [f"prvacct-{container}"] and params["sp"] == ["rl"] and "se" in params


def test_without_sign_a_stac_url_is_not_signed(runner, server, pc_env):
    before = len(_tokens(server))
    for extra in ((), ("--sign", "none")):
        result = _search(runner, server, pc_env, *extra)
        assert result.exit_code == 0, result.output
        assert [a["href"] for i in json.loads(result.stdout) for a in i["assets"].values()] == list(HREFS.values()) * 2
    assert len(_tokens(server)) == before  # the SAS endpoint was never asked


def test_a_refused_sas_token_is_one_error_line(runner, server, pc_env):
    server.set_faults({"sas": "403"})
    result = _search(runner, server, pc_env, "--sign", "planetary-computer")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("antares: error: "), result.stderr
    assert "SAS token" in lines[0] and "403" in lines[0] and server.url in lines[0] and "PC_SDK_SAS_URL" in lines[0]
    assert result.stdout == ""
