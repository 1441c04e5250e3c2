"""docker-compose.yml and Dockerfile agree with each other and with what antares reads.

No Docker engine is needed: the files are parsed and their settings are fed to
``antares.config.load_settings`` and to ``antares db start``.
"""

from __future__ import annotations

import inspect
import json
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

import antares.config

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("db", "scheduler", "worker", "antares")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's ``environment`` as a dict, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict) -> list[str]:
    """A service's ``command`` as an argument list (string or list form)."""
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def container_ports(service: dict) -> set[int]:
    """The container-side ports a service publishes (short ``"8786:8786"`` or long syntax)."""
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def depends_on(service: dict) -> dict[str, str]:
    """``depends_on`` as {service: condition}, from the list or the mapping form."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def variables_antares_reads() -> set[str]:
    """The environment variables antares reads, taken from antares/config.py itself."""
    assert "ANTARES_CONFIG" in inspect.getsource(antares.config)
    return {key.env for key in antares.config._KEYS} | {"ANTARES_CONFIG"}


def test_the_four_services_exist(services):
    assert set(SERVICES) <= set(services)


def test_db_is_postgis_with_a_healthcheck_and_a_named_volume(compose, services):
    db = services["db"]
    assert db["image"] == "postgis/postgis:15-3.4"
    test = db["healthcheck"]["test"]
    test = " ".join(test) if isinstance(test, list) else test
    assert "pg_isready -U antares -d antares" in test
    assert {"interval", "timeout", "retries"} <= set(db["healthcheck"])
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "pgdata" in compose["volumes"]


def test_antares_scheduler_and_worker_share_one_image_built_from_the_repo(services):
    for name in ("antares", "scheduler", "worker"):
        service = services[name]
        build = service.get("build")
        context = build.get("context") if isinstance(build, dict) else build
        assert context in (".", "./"), f"{name} is not built from the repository root"
        assert service["image"] == "antares:latest", name
    assert (ROOT / "Dockerfile").is_file()


def test_db_url_points_at_the_db_service_with_its_credentials(services):
    from sqlalchemy.engine import make_url

    db_env = environment(services["db"])
    url = make_url(environment(services["antares"])["ANTARES_DB_URL"])
    assert url.drivername == "postgresql+psycopg2"
    assert url.host == "db" and url.host in services
    assert url.port in (None, 5432)
    assert url.database == db_env["POSTGRES_DB"]
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]


def test_scheduler_address_names_the_scheduler_service_and_its_port(services):
    address = urlsplit(environment(services["antares"])["ANTARES_SCHEDULER"])
    assert address.scheme == "tcp"
    assert address.hostname == "scheduler" and address.hostname in services
    scheduler = services["scheduler"]
    assert command(scheduler)[:2] == ["dask", "scheduler"]
    assert str(address.port) in command(scheduler) or address.port in container_ports(scheduler)


def test_workers_connect_to_the_scheduler_and_write_to_the_same_db(services):
    worker, antares_env = services["worker"], environment(services["antares"])
    assert worker["deploy"]["replicas"] == 2
    args = command(worker)
    assert args[:2] == ["dask", "worker"]
    assert antares_env["ANTARES_SCHEDULER"] in args
    assert "scheduler" in depends_on(worker)
    assert environment(worker)["ANTARES_DB_URL"] == antares_env["ANTARES_DB_URL"]
    # a worker reads and writes the same files as the CLI: same mount, same ANTARES_HOME
    assert set(worker.get("volumes", [])) >= set(services["antares"].get("volumes", []))
    assert environment(worker).get("ANTARES_HOME") == antares_env.get("ANTARES_HOME")


def test_antares_waits_for_a_healthy_db_and_mounts_user_data(services):
    service = services["antares"]
    deps = depends_on(service)
    assert deps["db"] == "service_healthy"
    assert "scheduler" in deps
    assert "./data:/data" in service["volumes"]
    assert environment(service)["ANTARES_HOME"].startswith("/data/")
    assert command(service) == ["antares", "--help"]


def test_every_antares_variable_in_the_compose_file_is_read_by_antares(services):
    known = variables_antares_reads()
    used = {
        (name, var)
        for name, service in services.items()
        for var in environment(service)
        if var.startswith("ANTARES_")
    }
    assert used, "no ANTARES_* variable in docker-compose.yml"
    unknown = sorted(f"{name}: {var}" for name, var in used if var not in known)
    assert not unknown, f"antares does not read {unknown}; it reads {sorted(known)}"


@pytest.mark.parametrize("name", ["antares", "worker"])
def test_compose_environment_resolves_to_the_expected_settings(services, name):
    env = environment(services[name])
    settings = antares.config.load_settings(environ=env)
    assert settings.db_url == "postgresql+psycopg2://antares:antares@db:5432/antares"
    assert settings.sources["db_url"] == "env ANTARES_DB_URL"
    assert not settings.embedded
    assert settings.home == Path("/data/antares") and settings.sources["home"] == "env ANTARES_HOME"
    if name == "antares":
        assert settings.scheduler == "tcp://scheduler:8786"
        assert settings.sources["scheduler"] == "env ANTARES_SCHEDULER"

    from antares.db.engine import normalise_url

    assert normalise_url(settings.db_url) == settings.db_url


def test_db_start_says_it_uses_the_compose_database(services, runner):
    from antares.cli.main import cli

    result = runner.invoke(cli, ["db", "start"], env=environment(services["antares"]))
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg2://antares:***@db:5432/antares" in result.output
    assert "env ANTARES_DB_URL" in result.output and "nothing to start" in result.output


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    if current:
        joined.append(current)
    out = []
    for text in joined:
        keyword, _, args = text.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "Dockerfile has no FROM"
    return instructions[starts[-1]:]


def test_dockerfile_base_image():
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim-bookworm")


def test_dockerfile_installs_the_copied_repository_editable():
    stage = final_stage()
    copied_to = {shlex.split(args)[-1].rstrip("/") for keyword, args in stage
                 if keyword == "COPY" and shlex.split(args)[:-1] == ["."]}
    editable = []
    for keyword, args in stage:
        words = shlex.split(args) if keyword == "RUN" else []
        for i, word in enumerate(words[:-1]):
            if word in ("-e", "--editable") and "pip" in words and "install" in words:
                editable.append(words[i + 1].rstrip("/"))
    assert editable, "the Dockerfile does not 'pip install -e' antares"
    assert set(editable) <= copied_to, f"pip install -e {editable} but the repository is copied to {copied_to}"


def test_dockerfile_runs_antares_as_a_non_root_user():
    stage = final_stage()
    exec_form = {keyword: json.loads(args) for keyword, args in stage if keyword in ("CMD", "ENTRYPOINT")}
    assert exec_form["CMD"][0] == "antares"
    assert Path(exec_form["ENTRYPOINT"][0]).name == "tini"
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_dockerignore_keeps_local_state_out_of_the_image():
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    assert {".venv", ".git", "*.egg-info", ".pytest_cache"} <= patterns
    assert any("__pycache__" in p for p in patterns)


def test_scheduler_and_dashboard_published_on_localhost_only(services):
    """A published port without a host address listens on every interface of the host (docs/security-models-dask.md)."""
    ports = services["scheduler"].get("ports") or []
    assert ports
    for entry in ports:
        host_ip = entry.get("host_ip") if isinstance(entry, dict) else (str(entry).split(":")[0]
                                                                         if str(entry).count(":") == 2 else None)
        assert host_ip == "127.0.0.1", entry


def test_dependencies_are_installed_in_a_layer_before_the_code_is_copied():
    """A change to the code must not invalidate the dependency layer (minutes of downloads and builds)."""
    stage = final_stage()
    copy_all = next(i for i, (keyword, args) in enumerate(stage) if keyword == "COPY" and shlex.split(args)[0] == ".")
    deps = [i for i, (keyword, args) in enumerate(stage)
            if keyword == "RUN" and "pip install" in args and "--no-deps" not in args and "/opt/antares" in args]
    assert deps and deps[0] < copy_all, "the dependencies are installed after COPY . (every code change rebuilds them)"
    metadata = [shlex.split(args)[:-1] for keyword, args in stage[:deps[0]] if keyword == "COPY"]
    assert any("setup.py" in sources for sources in metadata)
    after = [args for keyword, args in stage[copy_all:] if keyword == "RUN" and "pip install" in args]
    assert after and all("--no-deps" in args for args in after)


def test_scheduler_has_a_healthcheck_that_workers_and_clients_wait_for(services):
    probe = " ".join(services["scheduler"]["healthcheck"]["test"])
    assert "8786" in probe
    for name in ("worker", "antares"):
        assert services[name]["depends_on"]["scheduler"]["condition"] == "service_healthy"


def _docker_bytes(text: str) -> int:
    """A Compose/Docker memory size in bytes: b, k, m, g (optionally with b: kb, mb, gb) are binary units (4G = 4 GiB)."""
    units = {"": 1, "b": 1, "k": 2 ** 10, "kb": 2 ** 10, "m": 2 ** 20, "mb": 2 ** 20, "g": 2 ** 30, "gb": 2 ** 30}
    number = text.rstrip("BbGgMmKk")
    return int(float(number) * units[text[len(number):].lower()])


def test_worker_container_memory_limit_matches_its_dask_memory_limit(services):
    from dask.utils import parse_bytes  # how dask worker reads --memory-limit (GB decimal, GiB binary)

    worker = services["worker"]
    words = command(worker)
    dask_limit = words[words.index("--memory-limit") + 1]
    container = worker["deploy"]["resources"]["limits"]["memory"]
    assert parse_bytes(dask_limit) == _docker_bytes(str(container)) == 4 * 2 ** 30
    assert _docker_bytes("512m") == 512 * 2 ** 20 and parse_bytes("4GB") != _docker_bytes("4G")  # the trap avoided


def test_numba_cache_lies_on_the_shared_volume_for_the_cli_and_the_workers(services):
    for name in ("antares", "worker"):
        cache = environment(services[name])["NUMBA_CACHE_DIR"]
        mounts = [v.split(":")[1] for v in services[name]["volumes"]]
        assert any(Path(cache).is_relative_to(m) for m in mounts), (name, cache, mounts)


def test_optional_notebook_service_is_a_profile_on_loopback(services):
    notebook = services["notebook"]
    assert notebook["profiles"] == ["notebook"]
    assert notebook["build"]["args"]["JUPYTER"] == "true"
    assert all(str(p).startswith("127.0.0.1:") for p in notebook["ports"])
    assert environment(notebook)["ANTARES_DB_URL"] == environment(services["antares"])["ANTARES_DB_URL"]
