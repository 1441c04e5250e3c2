"""fetch.download's retries as one value (issue 17: no public pipeline function over 8 parameters).

Against the test STAC/file server on 127.0.0.1 (tests/stac_api_server.py) with its faults: the number
of GETs the server saw is the independent count of the attempts made.
"""

import sys
from pathlib import Path

import pytest

from antares.errors import UsageError
from antares.pipeline.fetch import DownloadError, Retry, download, requests_session


@pytest.fixture
def file_server(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from stac_api_server import StacApiServer

    payload = bytes(range(256)) * 1200
    (tmp_path / "data.bin").write_bytes(payload)
    with StacApiServer([], {"data.bin": tmp_path / "data.bin"}, tmp_path) as server:
        yield server, payload


def _gets(server) -> int:
    return len([r for r in server.requests if r[1] == "/files/data.bin" and r[0] == "GET"])


@pytest.mark.parametrize("kwargs, start", [
    ({"attempts": 0}, "attempts must be an integer >= 1. Got 0."),
    ({"attempts": 2.5}, "attempts must be an integer >= 1. Got 2.5."),
    ({"backoff": -1.0}, "backoff must be a number of seconds >= 0. Got -1.0."),
    ({"timeout": 0}, "timeout must be a number of seconds > 0. Got 0."),
    ({"timeout": float("nan")}, "timeout must be a number of seconds > 0. Got nan."),
])
def test_retry_refuses_values_when_made(kwargs, start):
    with pytest.raises(UsageError) as info:
        Retry(**kwargs)
    assert str(info.value) == start and info.value.fields == tuple(kwargs)


def test_download_makes_exactly_the_attempts_asked(file_server, tmp_path):
    server, payload = file_server
    dest = tmp_path / "out" / "data.bin"
    server.set_faults({"data.bin": "500"})
    with requests_session() as session:
        with pytest.raises(DownloadError, match=r"failed 3 times \(last: HTTP 500"):
            download(session, server.file_url("data.bin"), dest, retry=Retry(attempts=3, backoff=0))
        assert _gets(server) == 3 and not dest.exists()

        server.set_faults({"data.bin": "drop-once"})  # half the file, then the connection closes
        with pytest.raises(DownloadError, match=r"failed 1 times \(last: connection lost at byte"):
            download(session, server.file_url("data.bin"), dest, size=len(payload), retry=Retry(attempts=1))
        part = dest.with_name("data.bin.part")
        assert 0 < part.stat().st_size < len(payload) and _gets(server) == 4
        done = download(session, server.file_url("data.bin"), dest, size=len(payload),
                        retry=Retry(attempts=2, backoff=0))
        assert done.downloaded and dest.read_bytes() == payload and _gets(server) == 5  # resumed: one more GET
