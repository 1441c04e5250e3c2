"""Pieces of antares fetch and antares doctor that need no server: multihash checksums, search checks, disk space."""

import hashlib

import pytest

from antares.errors import InvalidInputError, UsageError
from antares.pipeline.doctor import check_disk, check_numba_cache
from antares.pipeline.fetch import catalog_url, check_multihash, check_search


def test_multihash_decodes_the_usual_functions():
    data = b"antares"
    assert check_multihash("1220" + hashlib.sha256(data).hexdigest()) == ("sha256", hashlib.sha256(data).hexdigest())
    assert check_multihash("1340" + hashlib.sha512(data).hexdigest()) == ("sha512", hashlib.sha512(data).hexdigest())
    assert check_multihash("d50110" + hashlib.md5(data).hexdigest()) == ("md5", hashlib.md5(data).hexdigest())  # varint code
    with pytest.raises(InvalidInputError, match="not a hexadecimal multihash"):
        check_multihash("12zz")
    with pytest.raises(InvalidInputError, match="hash function 0x99"):
        check_multihash("9901" + "00")
    with pytest.raises(InvalidInputError, match="header says 32"):
        check_multihash("1220" + hashlib.sha256(data).hexdigest()[:-2])


def test_search_parameters_are_checked_before_any_request():
    check_search((22.1, 45.2, 22.2, 45.3), "2018-01-01/2018-12-31", 40, 10)
    check_search(None, "2018-01-01T00:00:00Z/..", None, None)
    with pytest.raises(UsageError, match="is not W S E N"):
        check_search((22.2, 45.2, 22.1, 45.3), None, None, None)
    with pytest.raises(UsageError, match="2018-13-01 is not an RFC 3339"):
        check_search(None, "2018-01-01/2018-13-01", None, None)
    with pytest.raises(UsageError, match="not a percentage"):
        check_search(None, None, 140, None)
    with pytest.raises(UsageError, match="at least 1"):
        check_search(None, None, None, 0)
    assert catalog_url("earth-search") == "https://earth-search.aws.element84.com/v1"
    assert catalog_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(UsageError, match="neither a STAC API URL"):
        catalog_url("ftp://example.org")


def test_disk_and_numba_checks(tmp_path):
    import shutil

    free = shutil.disk_usage(tmp_path).free
    assert check_disk(tmp_path / "not" / "yet", minimum=1).ok
    low = check_disk(tmp_path, minimum=free * 10)
    assert not low.ok and low.line().startswith("FAIL disk space of ANTARES_HOME") and "->" in low.line()
    assert check_numba_cache(tmp_path / "numba").ok
    (tmp_path / "file").write_text("")
    assert not check_numba_cache(tmp_path / "file" / "numba").ok


@pytest.fixture
def file_server(tmp_path):
    """The STAC test server serving one synthetic 300 kB file, ``data.bin``."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from stac_api_server import StacApiServer

    payload = bytes(range(256)) * 1200
    (tmp_path / "data.bin").write_bytes(payload)
    with StacApiServer([], {"data.bin": tmp_path / "data.bin"}, tmp_path) as server:
        yield server, payload


def test_download_checks_the_checksum_and_keeps_nothing_bad(file_server, tmp_path):
    from antares.pipeline.fetch import DownloadError, download, requests_session

    server, payload = file_server
    good = "1220" + hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "out" / "data.bin"
    server.set_faults({"data.bin": "truncated"})  # half the file, with a consistent Content-Length
    with requests_session() as session:
        with pytest.raises(DownloadError, match="differs from the item's file:checksum"):
            download(session, server.file_url("data.bin"), dest, checksum=good)
        assert not dest.exists() and not dest.with_name("data.bin.part").exists()
        server.set_faults({"data.bin": "drop-once"})
        done = download(session, server.file_url("data.bin"), dest, size=len(payload), checksum=good)
        assert done.downloaded and dest.read_bytes() == payload
        ranges = [r[2] for r in server.requests if r[1] == "/files/data.bin" and r[0] == "GET"]
        assert ranges[-2] is None and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
        again = download(session, server.file_url("data.bin"), dest, size=len(payload), checksum=good)
        assert not again.downloaded  # complete and verified: not fetched again
        assert len([r for r in server.requests if r[1] == "/files/data.bin"]) == len(ranges)


def test_ids_become_file_names_only_when_safe():
    from antares.pipeline.fetch import file_component

    assert file_component("S2B_34TFR_20180611_0_L2A", "item id") == "S2B_34TFR_20180611_0_L2A"
    assert file_component("blue-jp2", "asset key") == "blue-jp2"
    for bad in ("../etc", "a/b", ".hidden", "", "a b", "x" * 201):
        with pytest.raises(InvalidInputError, match="cannot be a file name"):
            file_component(bad, "item id")
