"""A STAC API (core + item search + query extension) and a COG file server on 127.0.0.1, for the fetch tests.

Why not stac-fastapi: it has no maintained in-memory backend (its backends are pgstac, which needs
the pgstac schema and its migrations, Elasticsearch/OpenSearch, or a geoparquet one on DuckDB), and
the fault cases (a connection dropped mid-file, HTTP 500, a truncated file) need control of the HTTP
layer anyway. This is a real HTTP server (``http.server.ThreadingHTTPServer``, one thread per
connection) in its own process (GDAL holds the GIL while it opens a file, so an in-process server
would deadlock ``/vsicurl/``) speaking the STAC API endpoints pystac-client uses: the landing page with ``conformsTo``,
``/conformance``, ``/collections``, ``/collections/{id}``, and ``/search`` by GET and POST
(``collections``, ``bbox``, ``datetime`` interval, ``query`` ``eo:cloud_cover`` ``lt``/``lte``/``gt``/``gte``,
``limit`` with ``next`` links). Files under ``/files/`` are served with HTTP range requests (``206``,
``Content-Range``, ``HEAD``), as GDAL's ``/vsicurl/`` needs.

``/sas/v1/token/ACCOUNT/CONTAINER`` answers a SAS token as the Planetary Computer's token endpoint
does (``msft:expiry``, ``token``; recorded as ``("TOKEN", "ACCOUNT/CONTAINER", subscription key)``),
so that ``planetary_computer.sign`` runs against it (``PC_SDK_SAS_URL``); fault ``sas``: ``403`` or ``500``.

Faults, per file name (``server.set_faults({name: mode})``, read by the server on every request):

``drop-once``
    the first GET sends ``Content-Length`` of the whole file, half of it, and closes the connection;
``500``
    every GET answers HTTP 500;
``truncated``
    every GET serves the first half of the file as if it were all of it (a consistent ``Content-Length``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def _time(text: str) -> datetime:
    if len(text) == 10:
        text += "T00:00:00Z"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class StacApiServer:
    """``with StacApiServer(items, files, workdir) as server:`` — items (dicts) searchable, files (name -> Path) served.

    Asset hrefs may hold ``{server}``, replaced by the server's URL. ``server.url`` is the API root;
    ``server.file_url(name)`` a file's URL; ``server.requests`` lists ``(method, path, Range header)``.
    """

    def __init__(self, items: list[dict], files: dict[str, Path], workdir: Path):
        self.workdir = Path(workdir)
        self.config = self.workdir / "server.json"
        self.faults_path = self.workdir / "faults.json"
        self.log_path = self.workdir / "requests.log"
        self.config.write_text(json.dumps({"items": items, "files": {k: str(v) for k, v in files.items()},
                                           "faults": str(self.faults_path), "log": str(self.log_path)}))
        self.set_faults({})
        self.process = None
        self.url = ""

    def set_faults(self, faults: dict) -> None:
        """Faults from now on (a new generation: ``drop-once`` drops the next request again)."""
        generation = json.loads(self.faults_path.read_text())["generation"] + 1 if self.faults_path.exists() else 0
        tmp = self.faults_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": generation, "faults": faults}))
        os.replace(tmp, self.faults_path)

    @property
    def requests(self) -> list[tuple]:
        if not self.log_path.exists():
            return []
        return [tuple(json.loads(line)) for line in self.log_path.read_text().splitlines() if line]

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, __file__, str(self.config)], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the STAC test server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
        return False


class _Server:
    """The server process's state."""

    def __init__(self, config: dict):
        self.faults_path = Path(config["faults"])
        self.log = open(config["log"], "a", buffering=1)
        self.files = {k: Path(v) for k, v in config["files"].items()}
        self._dropped: set = set()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.items = json.loads(json.dumps(config["items"]).replace("{server}", self.url))

    def record(self, method, path, range_header):
        with self._lock:
            self.log.write(json.dumps([method, path, range_header]) + "\n")

    def fault(self, name: str) -> tuple[str | None, int]:
        state = json.loads(self.faults_path.read_text())
        return state["faults"].get(name), state["generation"]

    # --- the API ----------------------------------------------------------------------------------------

    def collections(self) -> list[dict]:
        ids = sorted({item["collection"] for item in self.items})
        return [{"type": "Collection", "stac_version": "1.0.0", "id": cid, "description": f"{cid} (test server)",
                 "license": "proprietary",
                 "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
                 "links": [{"rel": "self", "href": f"{self.url}/collections/{cid}"},
                           {"rel": "root", "href": f"{self.url}/"},
                           {"rel": "items", "href": f"{self.url}/collections/{cid}/items"}]} for cid in ids]

    def landing(self) -> dict:
        return {"type": "Catalog", "stac_version": "1.0.0", "id": "antares-test", "description": "antares test STAC API",
                "conformsTo": CONFORMANCE,
                "links": [{"rel": "self", "href": f"{self.url}/", "type": "application/json"},
                          {"rel": "root", "href": f"{self.url}/", "type": "application/json"},
                          {"rel": "conformance", "href": f"{self.url}/conformance"},
                          {"rel": "data", "href": f"{self.url}/collections"},
                          {"rel": "search", "href": f"{self.url}/search", "method": "GET",
                           "type": "application/geo+json"},
                          {"rel": "search", "href": f"{self.url}/search", "method": "POST",
                           "type": "application/geo+json"}]}

    def search(self, params: dict) -> dict:
        collections = params.get("collections")
        bbox = params.get("bbox")
        interval = params.get("datetime")
        query = params.get("query") or {}
        limit = int(params.get("limit") or 10)
        start = int(params.get("token") or 0)
        found = []
        for item in self.items:
            if collections and item["collection"] not in collections:
                continue
            if bbox:
                w, s, e, n = item["bbox"]
                if w > bbox[2] or e < bbox[0] or s > bbox[3] or n < bbox[1]:
                    continue
            if interval:
                low, _, high = interval.partition("/") if "/" in interval else (interval, "", interval)
                when = _time(item["properties"]["datetime"])
                if low not in ("", "..") and when < _time(low):
                    continue
                if high not in ("", "..") and when > (_time(high) if len(high) > 10 else _time(high[:10] + "T23:59:59Z")):
                    continue
            keep = True
            for key, ops in query.items():
                value = item["properties"].get(key)
                for op, bound in ops.items():
                    keep &= value is not None and {"lt": value < bound, "lte": value <= bound, "gt": value > bound,
                                                   "gte": value >= bound, "eq": value == bound}[op]
            if keep:
                found.append(item)
        page = found[start:start + limit]
        links = [{"rel": "root", "href": f"{self.url}/"}]
        if start + limit < len(found):
            links.append({"rel": "next", "href": f"{self.url}/search", "method": "POST", "type": "application/geo+json",
                          "body": {**params, "token": str(start + limit)}, "merge": False})
        return {"type": "FeatureCollection", "features": page, "links": links, "numberMatched": len(found),
                "numberReturned": len(page)}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, body, status=200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/geo+json" if "features" in body else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve(head=False)

            def do_HEAD(self):
                self._serve(head=True)

            def do_POST(self):
                server.record("POST", self.path, None)
                length = int(self.headers.get("Content-Length") or 0)
                params = json.loads(self.rfile.read(length) or b"{}")
                if urlparse(self.path).path.rstrip("/") == "/search":
                    return self._json(server.search(params))
                self._json({"code": "NotFound", "description": self.path}, 404)

            def _serve(self, head):
                url = urlparse(self.path)
                path = url.path.rstrip("/") or "/"
                server.record("HEAD" if head else "GET", path, self.headers.get("Range"))
                if path.startswith("/files/"):
                    return self._file(path[len("/files/"):], head)
                if path.startswith("/sas/v1/token/"):
                    return self._token(path[len("/sas/v1/token/"):])
                if path == "/":
                    return self._json(server.landing())
                if path == "/conformance":
                    return self._json({"conformsTo": CONFORMANCE})
                if path == "/collections":
                    return self._json({"collections": server.collections(), "links": []})
                if path.startswith("/collections/"):
                    found = [c for c in server.collections() if c["id"] == path.split("/")[2]]
                    return self._json(found[0]) if found else self._json({"code": "NotFound"}, 404)
                if path == "/search":
                    query = parse_qs(url.query)
                    params = {k: v[0] for k, v in query.items()}
                    if "collections" in params:
                        params["collections"] = params["collections"].split(",")
                    if "bbox" in params:
                        params["bbox"] = [float(v) for v in params["bbox"].split(",")]
                    if "query" in params:
                        params["query"] = json.loads(params["query"])
                    return self._json(server.search(params))
                self._json({"code": "NotFound", "description": path}, 404)

            def _token(self, account_container):
                """A SAS token endpoint as the Planetary Computer's (``/sas/v1/token/ACCOUNT/CONTAINER``)."""
                server.record("TOKEN", account_container, self.headers.get("Ocp-Apim-Subscription-Key"))
                fault, _ = server.fault("sas")
                if fault in ("403", "500"):
                    return self._json({"message": "token refused (test fault)"}, int(fault))
                account, container = account_container.split("/", 1)
                expiry = datetime.now(timezone.utc) + timedelta(hours=1)
                self._json({"msft:expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "token": f"st=2026-01-01&se={expiry:%Y-%m-%d}&sp=rl&sv=2021-06-08&sr=c&sig={account}-{container}"})

            def _file(self, name, head):
                source = server.files.get(name)
                if source is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = source.read_bytes()
                fault, generation = server.fault(name)
                drop = False
                if fault == "drop-once" and not head:
                    with server._lock:
                        drop = (generation, name) not in server._dropped
                        server._dropped.add((generation, name))
                if fault == "500" and not head:
                    body = b"internal error"
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if fault == "truncated":
                    data = data[: len(data) // 2]
                start, end = 0, len(data) - 1
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
                if match:
                    start = int(match.group(1))
                    end = min(int(match.group(2)), end) if match.group(2) else end
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(end - start + 1))
                self.end_headers()
                if head:
                    return
                body = data[start:end + 1]
                if drop:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    import socket

                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        return Handler


if __name__ == "__main__":
    state = _Server(json.loads(Path(sys.argv[1]).read_text()))
    print(f"PORT {state.httpd.server_address[1]}", flush=True)
    state.httpd.serve_forever()
