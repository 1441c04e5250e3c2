"""``antares search`` and ``antares fetch``: find STAC items in a STAC API, download their assets, index them.

Search
    :func:`search_items` asks a STAC API (any URL, or the named catalogs of :data:`CATALOGS`)
    through pystac-client's ``/search`` (collection, bbox, datetime interval, the ``query``
    extension's ``eo:cloud_cover`` ``lt`` when asked). Items come back as plain dicts.

Fetch
    :func:`fetch_items` downloads the chosen assets of each item into ``OUTDIR/ITEM_ID/ASSET.EXT``
    (several at once), writes the item JSON beside them with its hrefs made relative, and indexes
    the item through the ``stac`` preparer (:mod:`antares.prepare.stac`), which decodes every
    pixel of every downloaded file before indexing. With ``download=False`` nothing is downloaded:
    the item JSON keeps the remote hrefs and the index points at them (GDAL reads ``https://``
    hrefs through ``/vsicurl/``, with HTTP range requests).

A download (:func:`download`) goes to ``NAME.part`` and is renamed when complete, so that a file
under its final name is always whole:

* resumable: a ``.part`` left by an interrupted run or a connection dropped mid-file is continued
  with an HTTP ``Range`` request (a server that ignores it is read again from the start);
* verified: the size against ``Content-Length`` (or ``Content-Range``) and the item's
  ``file:size``, and the content against the item's ``file:checksum`` (a multihash: sha2-256,
  sha2-512, sha1 or md5) when it gives one;
* retried: connection errors and HTTP 5xx answers a few times, with a short backoff.

An item is indexed only when every asset it needs downloaded and verified; one that failed is
named, the others are indexed, and the command exits 1.

Planetary Computer hrefs need a SAS token: with ``--catalog planetary-computer`` (or ``--sign
planetary-computer`` for a mirror or proxy of it) items are signed by the ``planetary-computer``
package (an optional dependency, imported only then), which asks its SAS endpoint
(``PC_SDK_SAS_URL``, default the Planetary Computer's) for a token per storage container.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from antares.config import Settings
from antares.errors import AntaresError, InvalidInputError, UsageError, shorten

log = logging.getLogger(__name__)

#: Named STAC APIs for ``--catalog``.
CATALOGS = {
    "earth-search": "https://earth-search.aws.element84.com/v1",
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
}
#: multihash function code -> hashlib name (https://github.com/multiformats/multicodec).
MULTIHASH = {0x11: "sha1", 0x12: "sha256", 0x13: "sha512", 0xD5: "md5"}
CHUNK = 1 << 20
_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")


class DownloadError(AntaresError):
    """A download failed: HTTP error, connection lost for good, size or checksum mismatch."""


@dataclass
class FetchReport:
    """Outcome of :func:`fetch_items`: files downloaded, items indexed, failures ``(item id, message)``."""

    items: int = 0
    downloaded: int = 0
    reused: int = 0
    bytes: int = 0
    added: int = 0
    existing: int = 0
    product: str = ""
    failures: list = field(default_factory=list)
    product_change: object = None

    def lines(self) -> list[str]:
        """Failure lines, the product line when one was added, and the summary (last)."""
        out = [f"failed: {message}" for _, message in self.failures]
        if self.product_change is not None:
            out.append(f"product {self.product}: {self.product_change.action} ({self.product_change.detail})")
        size = f"{self.bytes / 1e6:.1f} MB" if self.bytes >= 1e6 else f"{self.bytes / 1e3:.1f} kB"
        out.append(f"{self.downloaded} file(s) downloaded ({size}), {self.reused} already complete; "
                   f"{self.added} dataset(s) indexed into {self.product}, {self.existing} already indexed, "
                   f"{len(self.failures)} failed (of {self.items} item(s))")
        return out


def catalog_url(catalog: str) -> str:
    """The STAC API URL of ``catalog`` (a name of :data:`CATALOGS` or an ``http(s)://`` URL).

    Raises
    ------
    UsageError
        ``catalog`` is neither.
    """
    if catalog in CATALOGS:
        return CATALOGS[catalog]
    if urlparse(catalog).scheme in ("http", "https") and urlparse(catalog).netloc:
        return catalog.rstrip("/")
    raise UsageError(f"--catalog {shorten(catalog)} is neither a STAC API URL (http:// or https://) nor one of "
                     f"{', '.join(CATALOGS)}.")


def check_search(bbox, datetime: str | None, cloud_cover_lt: float | None, limit: int | None) -> None:
    """Validate the search parameters before any request.

    Parameters
    ----------
    bbox : sequence of 4 float or None
        West, south, east, north in degrees (EPSG:4326), west < east, south < north.
    datetime : str or None
        ``A/B`` RFC 3339 interval (either end may be ``..``) or one date.
    cloud_cover_lt : float or None
        Percent, 0 to 100.
    limit : int or None
        At least 1.

    Raises
    ------
    UsageError
        One of them is out of range or malformed.
    """
    if bbox is not None:
        west, south, east, north = bbox
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise UsageError(f"--bbox {west} {south} {east} {north} is not W S E N in degrees "
                             "(-180 <= W < E <= 180, -90 <= S < N <= 90).")
    if datetime is not None:
        from datetime import datetime as dt

        for end in datetime.split("/"):
            if end in ("", ".."):
                continue
            try:
                dt.fromisoformat(end.replace("Z", "+00:00"))
            except ValueError:
                raise UsageError(f"--datetime {shorten(datetime)}: {shorten(end)} is not an RFC 3339 date or datetime "
                                 "(e.g. 2018-01-01/2018-12-31).") from None
        if datetime.count("/") > 1:
            raise UsageError(f"--datetime {shorten(datetime)} has more than two ends (A/B expected).")
    if cloud_cover_lt is not None and not 0 <= cloud_cover_lt <= 100:
        raise UsageError(f"--cloud-cover-lt {cloud_cover_lt} is not a percentage (0 to 100).")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit} must be at least 1.")


def search_items(catalog: str, collection: str, bbox=None, datetime: str | None = None,
                 cloud_cover_lt: float | None = None, limit: int | None = None, sign: str | None = None) -> list[dict]:
    """Items of ``collection`` in the STAC API ``catalog`` matching the filters, as STAC Item dicts.

    Parameters
    ----------
    catalog : str
        A name of :data:`CATALOGS` or the URL of a STAC API (its landing page).
    collection : str
        Collection id (``sentinel-2-l2a``).
    bbox : sequence of 4 float, optional
        West, south, east, north in degrees (EPSG:4326).
    datetime : str, optional
        RFC 3339 interval ``A/B``.
    cloud_cover_lt : float, optional
        Keep items whose ``eo:cloud_cover`` is below this percentage (the ``query`` extension).
    limit : int, optional
        At most this many items.
    sign : {"planetary-computer", "none"}, optional
        Sign the asset hrefs with the Planetary Computer's SAS tokens (``planetary_computer.sign``:
        a token per storage container from its SAS endpoint, ``PC_SDK_SAS_URL``, with the key
        ``PC_SDK_SUBSCRIPTION_KEY`` when set), or not. Default: sign when ``catalog`` is the
        Planetary Computer's; ``planetary-computer`` signs the items of another URL (a mirror or
        a proxy of it).

    Returns
    -------
    list of dict
        Items, signed when asked (or when the catalog is the Planetary Computer's).

    Raises
    ------
    UsageError
        A parameter is invalid (see :func:`check_search`); signing needs the missing
        ``planetary-computer`` package.
    DownloadError
        The API cannot be reached, is not a STAC API with item search, or answers an error; the SAS
        token endpoint refused or failed.
    """
    check_search(bbox, datetime, cloud_cover_lt, limit)
    url = catalog_url(catalog)
    signer = _signer(catalog, sign)
    import pystac_client
    import requests
    from pystac_client.exceptions import APIError, ParametersError

    try:
        client = pystac_client.Client.open(url)
        search = client.search(collections=[collection], bbox=list(bbox) if bbox is not None else None,
                               datetime=datetime, max_items=limit, limit=min(limit or 100, 100),
                               query={"eo:cloud_cover": {"lt": cloud_cover_lt}} if cloud_cover_lt is not None else None)
        items = [item for item in search.items_as_dicts()]
    except (APIError, ParametersError, requests.RequestException, NotImplementedError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"STAC search in {url} (collection {shorten(collection)}) failed: {shorten(first)}; "
                            "check the catalog URL, the collection id and the network.") from exc
    if not signer:
        return items
    try:
        return [signer(item) for item in items]
    except (requests.RequestException, ValueError) as exc:  # an HTTP error of the SAS endpoint, a malformed token
        from planetary_computer.settings import Settings as PcSettings

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"signing the asset hrefs of {len(items)} item(s) with a Planetary Computer SAS token from "
                            f"{shorten(str(PcSettings.get().sas_url))} failed: {shorten(first)}; check the network, "
                            "PC_SDK_SAS_URL and PC_SDK_SUBSCRIPTION_KEY.") from exc


#: ``--sign`` values: the Planetary Computer's SAS tokens, or no signing.
SIGNERS = ("planetary-computer", "none")


def _signer(catalog: str, sign: str | None = None):
    """``planetary_computer.sign`` when ``sign`` asks for it (or, by default, for the Planetary Computer catalog), else None."""
    if sign is not None and sign not in SIGNERS:
        raise UsageError(f"--sign {shorten(sign)} is not one of {', '.join(SIGNERS)}.")
    if sign == "none" or (sign is None and catalog != "planetary-computer"
                          and "planetarycomputer.microsoft.com" not in catalog):
        return None
    try:
        import planetary_computer
    except ImportError:
        raise UsageError("signing Planetary Computer hrefs needs the planetary-computer package: "
                         "pip install planetary-computer.") from None
    return lambda item: planetary_computer.sign(item)


def item_rows(items: list[dict]) -> list[dict]:
    """One table row per item: id, date, cloud cover (percent), MGRS tile."""
    from antares.prepare.stac import _region_code

    rows = []
    for item in items:
        props = item.get("properties") or {}
        rows.append({"id": item.get("id"), "date": (props.get("datetime") or props.get("start_datetime") or "")[:19],
                     "cloud cover": props.get("eo:cloud_cover"), "tile": _region_code(props)})
    return rows


def fetch_items(settings: Settings, items: list[dict], outdir, product: str | None = None, assets=None,
                download_files: bool = True, workers: int = 4, progress: bool = False) -> FetchReport:
    """Download the chosen assets of ``items`` into ``outdir`` and index each complete item into ``product``.

    Parameters
    ----------
    settings : Settings
    items : list of dict
        STAC items (from :func:`search_items`).
    outdir : path
        Where ``ITEM_ID/ASSET.EXT`` files and ``ITEM_ID/ITEM_ID.json`` go (created).
    product : str, optional
        Product to index into (default: the ``stac`` preparer's, ``s2_l2a``; derived from it when not
        indexed yet).
    assets : list of str, optional
        Asset keys to download (default: the assets with role ``data`` and a GeoTIFF media type).
    download_files : bool
        False: download nothing, index the remote hrefs (read later through GDAL's ``/vsicurl/``).
    workers : int
        Parallel downloads.
    progress : bool
        Draw a tqdm byte counter on stderr.

    Returns
    -------
    FetchReport

    Raises
    ------
    UsageError
        An item id or asset key cannot be a file name.
    """
    from antares.pipeline.index import index_path

    outdir = Path(outdir)
    report = FetchReport(items=len(items))
    plans = []  # (item, {asset: (href, dest)})
    for item in items:
        item_id = str(item.get("id") or "")
        try:
            chosen = _choose_assets(item, assets)
            folder = outdir / file_component(item_id, "item id")
            plans.append((item, {key: (asset["href"], folder / (file_component(key, "asset key") + _suffix(asset)))
                                 for key, asset in chosen.items()}))
        except InvalidInputError as exc:
            report.failures.append((item_id, str(exc)))
    failed_items = {item_id for item_id, _ in report.failures}
    if download_files and plans:
        bar = _bar(progress)
        jobs = {}
        with requests_session() as session, concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
            for item, chosen in plans:
                for key, (href, dest) in chosen.items():
                    spec = item["assets"][key]
                    job = pool.submit(download, session, href, dest, _int(spec.get("file:size")),
                                      spec.get("file:checksum"), bar=bar)
                    jobs[job] = (item["id"], key, href)
            for job in concurrent.futures.as_completed(jobs):
                item_id, key, href = jobs[job]
                try:
                    outcome = job.result()
                except (DownloadError, InvalidInputError) as exc:  # InvalidInputError: a malformed file:checksum
                    report.failures.append((item_id, f"item {item_id}: asset {key}: {exc}"))
                    failed_items.add(item_id)
                    continue
                report.downloaded += outcome.downloaded
                report.reused += not outcome.downloaded
                report.bytes += outcome.bytes if outcome.downloaded else 0
        bar.close()
    for item, chosen in plans:
        if item["id"] in failed_items:
            continue  # nothing indexed from a partial item
        folder = outdir / item["id"]
        local = json.loads(json.dumps(item))
        local["links"] = [link for link in local.get("links") or [] if link.get("rel") not in ("self", "root", "parent")]
        if download_files:
            for key, (_, dest) in chosen.items():
                local["assets"][key]["href"] = dest.name  # relative to the item JSON beside it
            local["assets"] = {key: value for key, value in local["assets"].items() if key in chosen}
        path = folder / f"{item['id']}.json"
        folder.mkdir(parents=True, exist_ok=True)
        signed = any(urlparse(str(a.get("href", ""))).query for a in local["assets"].values() if isinstance(a, dict))
        _write_atomic(path, json.dumps(local, indent=1).encode(), 0o600 if signed else 0o644)  # SAS tokens: owner only
        result = index_path(settings, path, "stac", product, bands=None)
        report.product = result.product
        report.product_change = report.product_change or result.product_change
        report.added += result.added
        report.existing += result.existing
        report.failures.extend((item["id"], message) for _, message in result.failures)
    if not report.product:
        from antares.prepare import get_preparer

        report.product = product or get_preparer("stac").default_product
    return report


def _choose_assets(item: dict, wanted) -> dict:
    """``{key: asset}`` of ``item`` to fetch: the ``wanted`` keys, else its GeoTIFF data assets."""
    item_id = item.get("id")
    available = item.get("assets") or {}
    if wanted:
        missing = [k for k in wanted if k not in available]
        if missing:
            raise InvalidInputError(f"item {item_id} has no asset {', '.join(missing)} (it has {', '.join(sorted(available))}); "
                                    "choose --assets among those.")
        chosen = {k: available[k] for k in wanted}
    else:
        chosen = {k: a for k, a in available.items()
                  if "data" in (a.get("roles") or []) and "tiff" in str(a.get("type", "")).lower()}
        if not chosen:
            raise InvalidInputError(f"item {item_id} has no GeoTIFF data asset (assets: {', '.join(sorted(available))}); "
                                    "name the ones to fetch with --assets.")
    for key, asset in chosen.items():
        if not isinstance(asset, dict) or not asset.get("href"):
            raise InvalidInputError(f"item {item_id}: asset {key} has no href.")
    return chosen


def file_component(text: str, what: str, hint: str = "the catalog's ids are unusual: fetch with --no-download") -> str:
    """``text`` if it can be one file name (letters, digits, ``_.-``; not starting with a dot).

    Raises
    ------
    InvalidInputError
        It cannot (a path separator, ``..``, a space, a leading dot, more than 200 characters).
    """
    if not _COMPONENT.fullmatch(text) or ".." in text:
        raise InvalidInputError(f"{what} {shorten(text) or '(empty)'} cannot be a file name "
                                f"(1 to 200 ASCII letters, digits, '_', '.', '-', not starting with '.'); {hint}.")
    return text


def _suffix(asset: dict) -> str:
    suffix = PurePosixPath(urlparse(asset["href"]).path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix or "") else ".tif"


def _int(value):
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def requests_session():
    """A ``requests.Session`` (a context manager) with antares' user agent."""
    import requests

    from antares import __version__

    session = requests.Session()
    session.headers["User-Agent"] = f"antares/{__version__}"
    return session


def _bar(progress: bool):
    import sys

    from tqdm import tqdm

    return tqdm(total=None, unit="B", unit_scale=True, desc="fetch", file=sys.stderr, disable=not progress)


@dataclass
class Downloaded:
    """One file of :func:`download`: its size and whether bytes were transferred (False: already complete)."""

    path: Path
    bytes: int
    downloaded: bool


def check_multihash(checksum: str) -> tuple[str, str]:
    """``(hashlib name, hex digest)`` of a ``file:checksum`` multihash (hex string).

    Raises
    ------
    InvalidInputError
        Not hex, an unknown hash function, or a digest length that disagrees with its header.
    """
    try:
        raw = bytes.fromhex(checksum)
    except (ValueError, TypeError):
        raise InvalidInputError(f"file:checksum {shorten(checksum)} is not a hexadecimal multihash.") from None
    code, shift, pos = 0, 0, 0
    while pos < len(raw):  # unsigned varint
        byte = raw[pos]
        code |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            break
    if code not in MULTIHASH or pos >= len(raw):
        raise InvalidInputError(f"file:checksum {shorten(checksum)}: hash function 0x{code:x} is not one of "
                                f"{', '.join(MULTIHASH.values())}.")
    length, digest = raw[pos], raw[pos + 1:]
    name = MULTIHASH[code]
    if length != len(digest) or length != hashlib.new(name).digest_size:
        raise InvalidInputError(f"file:checksum {shorten(checksum)}: a {name} digest of {len(digest)} bytes "
                                f"(header says {length}).")
    return name, digest.hex()


@dataclass(frozen=True)
class Retry:
    """How :func:`download` retries: at most ``attempts`` requests, ``backoff * 2**(n-1)`` seconds before
    the n-th retry, each request given up after ``timeout`` seconds without data.

    Raises
    ------
    UsageError
        ``attempts`` < 1, ``backoff`` < 0 or ``timeout`` <= 0 (the message names the field).

    Examples
    --------
    >>> Retry(attempts=2).attempts, Retry().timeout
    (2, 60.0)
    """

    attempts: int = 5
    backoff: float = 0.2
    timeout: float = 60.0

    def __post_init__(self):
        from antares.pipeline.requests import _positive, refusal

        _positive(self.attempts, "attempts")
        if not self.backoff >= 0:
            raise refusal(f"backoff must be a number of seconds >= 0. Got {self.backoff!r}.", "backoff")
        if not self.timeout > 0:
            raise refusal(f"timeout must be a number of seconds > 0. Got {self.timeout!r}.", "timeout")


def download(session, url: str, dest, size: int | None = None, checksum: str | None = None, retry: Retry = Retry(),
             bar=None) -> Downloaded:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming, verifying and renaming (see the module docstring).

    Parameters
    ----------
    session : requests.Session
    url : str
        ``http(s)://`` URL.
    dest : path
        Final file; left untouched when it exists with the expected ``size`` (and ``checksum``).
    size : int, optional
        Expected size in bytes (``file:size``).
    checksum : str, optional
        Expected ``file:checksum`` multihash.
    retry : Retry
        Requests at most, backoff and timeout (connection errors and HTTP 5xx are retried, resuming).
    bar : tqdm.tqdm, optional
        Updated with the bytes received.

    Returns
    -------
    Downloaded

    Raises
    ------
    DownloadError
        An HTTP error, a connection lost ``attempts`` times, or a size or checksum that disagrees
        (the ``.part`` file is then removed).
    """
    import requests
    import urllib3

    dest = Path(dest)
    attempts, backoff, timeout = retry.attempts, retry.backoff, retry.timeout
    if urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"{shorten(url)} is not an http(s) URL; only those are downloaded (fetch with --no-download).")
    expected_hash = check_multihash(checksum) if checksum else None
    if dest.is_file() and (size is None or dest.stat().st_size == size) and (
            expected_hash is None or _digest(dest, expected_hash[0]) == expected_hash[1]):
        return Downloaded(dest, dest.stat().st_size, False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total = None
    failure = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        have = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
                if response.status_code == 416 and have and total is not None and have == total:
                    break  # the .part is complete already
                if response.status_code >= 500:
                    failure = f"HTTP {response.status_code} {response.reason}"
                    continue
                if response.status_code >= 400:
                    raise DownloadError(f"GET {shorten(url)} answered HTTP {response.status_code} {response.reason}.")
                if response.status_code == 206:
                    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
                    if not match or int(match.group(1)) != have:
                        raise DownloadError(f"GET {shorten(url)}: the server answered range "
                                            f"{response.headers.get('Content-Range')!r} to a request from byte {have}.")
                    total = int(match.group(3)) if match.group(3) != "*" else None
                    mode = "ab"
                else:  # 200: the whole file (the server ignored Range, or none was asked)
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    mode, have = "wb", 0
                if total is not None and size is not None and total != size:
                    raise DownloadError(f"GET {shorten(url)}: the server has {total} bytes, the item says "
                                        f"file:size {size}; the catalog and the file disagree.")
                with open(part, mode) as out:
                    while True:  # read1: what has arrived is written before a dropped connection raises
                        chunk = response.raw.read1(CHUNK, decode_content=False)
                        if not chunk:
                            break
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
            break
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout,
                urllib3.exceptions.HTTPError) as exc:
            got = part.stat().st_size if part.exists() else 0
            failure = f"connection lost at byte {got}" + (f" of {total}" if total else "") + f" ({type(exc).__name__})"
            log.debug("%s: %s, resuming (attempt %d of %d)", url, failure, attempt + 1, attempts)
    else:
        kept = part.stat().st_size if part.exists() else 0
        raise DownloadError(f"GET {shorten(url)} failed {attempts} times (last: {failure}); "
                            + (f"re-run the command to resume from byte {kept} ({part.name})." if kept else
                               "check the URL and the server, then re-run the command."))
    got = part.stat().st_size
    want = total if total is not None else size
    if want is not None and got != want:
        part.unlink()
        raise DownloadError(f"GET {shorten(url)}: {got} bytes received, {want} expected; the file is truncated "
                            "(nothing kept).")
    if size is not None and got != size:
        part.unlink()
        raise DownloadError(f"GET {shorten(url)}: {got} bytes received, the item says file:size {size}; "
                            "the file is truncated or the catalog is wrong (nothing kept).")
    if expected_hash is not None:
        actual = _digest(part, expected_hash[0])
        if actual != expected_hash[1]:
            part.unlink()
            raise DownloadError(f"GET {shorten(url)}: {expected_hash[0]} {actual} differs from the item's "
                                f"file:checksum ({expected_hash[1]}); the file is corrupt or truncated (nothing kept).")
    os.replace(part, dest)
    return Downloaded(dest, got, True)


def _digest(path: Path, name: str) -> str:
    digest = hashlib.new(name)
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """``data`` to ``path`` through a temporary file created with ``mode`` (never wider), then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
