"""compose.yaml, deploy/nginx.conf and the Dockerfile agree with each other and with the layout that
tests/test_production_layout.py runs as processes (this machine has no Docker daemon: that test is the
proof, these checks keep the files describing what it proved).

The files are parsed (PyYAML for compose.yaml, crossplane for nginx.conf, the Dockerfile's instructions
with their JSON-form arguments), not searched for strings.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import crossplane
import pytest
import yaml

from service.settings import Settings
from tests import test_production_layout as layout

REPO = Path(__file__).resolve().parents[1]
REPLICAS = ("recoup-1", "recoup-2")
DATA = Path("/data")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        line = line.rstrip()
        if not current and (not line or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> dict:
    """The Dockerfile's ENV (merged), CMD, EXPOSE, VOLUME and HEALTHCHECK (options and command)."""
    found: dict = {"env": {}, "expose": [], "volumes": []}
    for keyword, arguments in dockerfile_instructions(REPO / "Dockerfile"):
        if keyword == "ENV":
            found["env"] |= dict(part.split("=", 1) for part in shlex.split(arguments))
        elif keyword == "CMD":
            found["cmd"] = json.loads(arguments)
        elif keyword == "EXPOSE":
            found["expose"] += [int(port) for port in arguments.split()]
        elif keyword == "VOLUME":
            found["volumes"] += arguments.split()
        elif keyword == "HEALTHCHECK":
            options, _, command = arguments.partition(" CMD ")
            found["healthcheck"] = {
                "options": dict(option.removeprefix("--").split("=", 1) for option in options.split()),
                "cmd": json.loads(command),
            }
    return found


#: What the compose file is given from the environment here (compose.yaml's header says what to set).
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD": "secret", "RECOUP_API_KEYS": "key-1"}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<kind>:\?|:-)(?P<rest>[^}]*))?\}")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` substitution."""

    def value(match: re.Match) -> str:
        given = variables.get(match["name"])
        if given:
            return given
        if match["kind"] == ":?":
            raise KeyError(f"{match['name']}: {match['rest']}")
        return match["rest"] or ""

    return INTERPOLATION.sub(value, text)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(interpolate((REPO / "compose.yaml").read_text(), COMPOSE_VARIABLES))


def test_compose_refuses_to_start_without_its_secrets():
    text = (REPO / "compose.yaml").read_text()
    for name in COMPOSE_VARIABLES:
        with pytest.raises(KeyError, match=name):
            interpolate(text, {key: value for key, value in COMPOSE_VARIABLES.items() if key != name})


@pytest.fixture(scope="module")
def nginx() -> list[dict]:
    parsed = crossplane.parse(str(REPO / "deploy" / "nginx.conf"))
    assert parsed["status"] == "ok", parsed["errors"]
    return parsed["config"][0]["parsed"]


def _directives(block: list[dict], name: str) -> list[dict]:
    return [item for item in block if item["directive"] == name]


def _options(command: list[str]) -> dict[str, str | None]:
    """``--name value`` / ``--flag`` options of a command line."""
    options, position = {}, 0
    while position < len(command):
        part = command[position]
        if part.startswith("--"):
            following = command[position + 1] if position + 1 < len(command) else None
            takes_value = following is not None and not following.startswith("--")
            options[part] = following if takes_value else None
            position += 2 if takes_value else 1
        else:
            position += 1
    return options


def _urls(parts: list[str]) -> list:
    return [urlsplit(url) for part in parts for url in re.findall(r"https?://[^'\"\s]+", part)]


def _service_variables(environment: dict) -> set[str]:
    """The variables the service reads (not the image's Python and pip settings)."""
    return {name for name in environment if name.startswith(("RECOUP_", "MLFLOW_")) or name == "TMPDIR"}


def _program(command: list[str]) -> list[str]:
    """The program and its subcommand, without the machine's path to the program."""
    return [Path(command[0]).name, command[1]]


def test_the_image_serves_the_replica_command_and_checks_readiness_with_a_start_period(dockerfile):
    test_command = layout.replica_command(port=1234)
    assert _program(dockerfile["cmd"]) == _program(test_command) == ["recoup", "serve"]
    assert _options(dockerfile["cmd"]).keys() == _options(test_command).keys()
    port = int(_options(dockerfile["cmd"])["--port"])
    assert dockerfile["expose"] == [port]
    health = dockerfile["healthcheck"]
    assert [(url.port, url.path) for url in _urls(health["cmd"])] == [(port, layout.READY_PATH)]
    start_period = health["options"]["start-period"]
    assert start_period.endswith("s") and int(start_period[:-1]) >= 60, "first start compiles the trees"


def test_everything_the_image_writes_is_under_its_data_volume(dockerfile):
    assert dockerfile["volumes"] == [str(DATA)]
    env = dockerfile["env"]
    for name in ("RECOUP_COMPILED_TREES_DIR", "TMPDIR"):
        assert Path(env[name]).is_relative_to(DATA), name
    store = urlsplit(env["RECOUP_STORE_URI"])
    assert store.scheme == "sqlite" and Path(store.path.removeprefix("/")).is_relative_to(DATA)


def test_compose_replicas_run_what_the_process_test_ran(compose, dockerfile):
    services = compose["services"]
    expected = layout.replica_environment("tracking", "store", DATA)
    for name in REPLICAS:
        replica = services[name]
        assert replica["command"] == dockerfile["cmd"]
        environment = dockerfile["env"] | replica["environment"]
        # the same variables as the process test's replicas, no more and no fewer
        assert _service_variables(environment) == expected.keys()
        assert environment["RECOUP_MODEL_URI"] == expected["RECOUP_MODEL_URI"]
        assert environment["RECOUP_COMPILED_TREES_DIR"] == expected["RECOUP_COMPILED_TREES_DIR"]
        assert environment["TMPDIR"] == expected["TMPDIR"]
        assert [volume.split(":")[1] for volume in replica["volumes"]] == [str(DATA)]
    volumes = [services[name]["volumes"][0].split(":")[0] for name in REPLICAS]
    assert len(set(volumes)) == len(REPLICAS), "each replica writes to its own data volume"
    assert not layout.TEST_ONLY_ENVIRONMENT.keys() & expected.keys()


def test_every_recoup_variable_in_the_files_is_a_setting(compose, dockerfile):
    settings = {f"RECOUP_{name.upper()}" for name in Settings.model_fields}
    known = settings | {"RECOUP_WORKERS", "RECOUP_DEMO_CLAIMS"}  # the serve and bootstrap commands' own options
    names = set(dockerfile["env"]) | set(layout.TEST_ONLY_ENVIRONMENT)
    for service in compose["services"].values():
        names |= set(service.get("environment", {}))
    assert {name for name in names if name.startswith("RECOUP_")} - known == set()


def test_replicas_reach_the_tracking_server_and_the_store_compose_runs(compose):
    services = compose["services"]
    mlflow = services["mlflow"]
    command = mlflow["command"]
    test_command = layout.mlflow_server_command("backend", Path("/artifacts"), 5000)
    assert _program(command) == _program(test_command) == ["mlflow", "server"]
    options = _options(command)
    assert options.keys() == _options(test_command).keys()  # served artifacts, host, port, workers, hosts
    assert mlflow["environment"] == layout.mlflow_server_environment()
    assert Path(options["--artifacts-destination"]).is_relative_to(DATA)
    assert mlflow["volumes"][0].split(":")[1] == str(DATA)
    health = _urls(mlflow["healthcheck"]["test"])
    assert [(str(url.port), url.path) for url in health] == [(options["--port"], layout.MLFLOW_HEALTH_PATH)]

    postgres = services["postgres"]
    backend = urlsplit(options["--backend-store-uri"])
    assert backend.scheme == "postgresql+psycopg" and backend.hostname == "postgres"
    assert backend.path == "/" + postgres["environment"]["POSTGRES_DB"]
    init = (REPO / "deploy" / "postgres-init.sql").read_text()
    for name in REPLICAS:
        environment = services[name]["environment"]
        tracking = urlsplit(environment["MLFLOW_TRACKING_URI"])
        assert (tracking.hostname, str(tracking.port)) == ("mlflow", options["--port"])
        assert f"{tracking.hostname}:{tracking.port}" in options["--allowed-hosts"].split(",")
        store = urlsplit(environment["RECOUP_STORE_URI"])
        assert store.scheme == "postgresql" and store.hostname == "postgres" and store.path != backend.path
        assert re.search(rf"CREATE DATABASE {store.path.removeprefix('/')}\b", init)
        assert set(services[name]["depends_on"]) == {"bootstrap"}
    assert services["bootstrap"]["environment"]["MLFLOW_TRACKING_URI"] == tracking.geturl()


def test_nginx_balances_the_compose_replicas_on_their_port(nginx, compose, dockerfile):
    http = _directives(nginx, "http")[0]["block"]
    upstream = _directives(http, "upstream")[0]
    port = int(_options(dockerfile["cmd"])["--port"])
    servers = [item["args"][0] for item in _directives(upstream["block"], "server")]
    assert servers == [f"{name}:{port}" for name in REPLICAS]
    server = _directives(http, "server")[0]["block"]
    listen = int(_directives(server, "listen")[0]["args"][0])
    proxy = _directives(_directives(server, "location")[0]["block"], "proxy_pass")[0]["args"]
    assert proxy == [f"http://{upstream['args'][0]}"]
    front = compose["services"]["nginx"]
    assert [int(mapping.split(":")[1]) for mapping in front["ports"]] == [listen]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in front["volumes"]}
    assert mounted["./deploy/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert set(front["depends_on"]) == set(REPLICAS)
    assert all(condition["condition"] == "service_healthy" for condition in front["depends_on"].values())
