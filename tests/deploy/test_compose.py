"""deploy/compose.yaml, rendered by Docker Compose itself (`config` needs no Docker engine):
the broker, the database, the five services wired to them, Prometheus with the rules."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.deploy.common import DEPLOY, SERVICES, run, service_command, tool

COMPOSE_FILE = DEPLOY / "compose.yaml"
INFRA = ("kafka", "postgres")
PORTS = {name: 8001 + i for i, name in enumerate(SERVICES)}
# The variables compose.yaml substitutes; the tests render it without them, as a fresh
# workstation would, unless a test sets them.
SUBSTITUTED = ("MOTCUA_OIDC_ISSUER", "MOTCUA_OIDC_ROLE_CLAIM", "MOTCUA_OIDC_UNITS_CLAIM",
               "MOTCUA_OIDC_ROLE_MAP", "MOTCUA_PIN_PEPPER", "MOTCUA_LOG_LEVEL", "POSTAL_COURIER_SECRETS",
               "INTAKE_PORTAL_KEYS", "FEEDBACK_PORTAL_KEYS", "POSTGRES_PASSWORD",
               "NATIONAL_PORTAL_PORTAL_URL", "NATIONAL_PORTAL_PORTAL_PASSWORD",
               "NATIONAL_PORTAL_INTAKE_KEY")


@functools.cache
def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) if it answers, else `docker-compose` (Debian's 1.29)."""
    if tool("docker") and run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if tool("docker-compose") and run(["docker-compose", "version"]).returncode == 0:
        return ["docker-compose"]
    return None


pytestmark = pytest.mark.skipif(
    compose_command() is None,
    reason="neither `docker compose` nor `docker-compose` is installed "
           "(apt-get install docker-compose; deploy/local/test.sh does it as root)")


# What an operator must set: compose has no fall-back for any secret.
SECRETS = {"MOTCUA_OIDC_ISSUER": "https://sso.example.gov.vn/realms/hp", "MOTCUA_PIN_PEPPER": "p" * 40,
           "POSTAL_COURIER_SECRETS": "vnpost:" + "c" * 40, "POSTGRES_PASSWORD": "pw",
           "NATIONAL_PORTAL_PORTAL_URL": "https://dichvucong.example.vn/integration",
           "NATIONAL_PORTAL_PORTAL_PASSWORD": "n" * 40,
           "NATIONAL_PORTAL_INTAKE_KEY": "national-portal-connector." + "k" * 40}


def render(**env: str) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    assert command is not None
    clean = {k: v for k, v in os.environ.items() if k not in SUBSTITUTED}
    return run([*command, "-f", str(COMPOSE_FILE), "config"], env={**clean, **env})


@functools.cache
def rendered() -> dict[str, Any]:
    result = render(**SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict)
    return config


def services() -> dict[str, Any]:
    return rendered()["services"]  # type: ignore[no-any-return]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE form
        env = dict(e.split("=", 1) for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """target -> published, whichever form the tool renders (long syntax, or "8001:8000")."""
    out = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out[int(port["target"])] = int(port["published"])
        else:
            published, target = str(port).rsplit(":", 2)[-2:]
            out[int(target)] = int(published)
    return out


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of the volumes, long syntax or "source:target[:mode]"."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            out[volume["target"]] = str(volume.get("source", ""))
        else:
            source, target = str(volume).split(":")[:2]
            out[target] = source
    return out


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_config_refuses_to_render_without_each_secret(missing: str) -> None:
    result = render(**{k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_config_renders_with_the_secrets_set() -> None:
    result = render(**SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {*INFRA, *SERVICES, "prometheus"}
    commands = {name: s.get("command") for name, s in config["services"].items()}
    for name in SERVICES:
        assert commands[name] == service_command(name)


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_built_from_the_dockerfile_and_wired(name: str) -> None:
    service = services()[name]
    assert service["command"] == service_command(name)
    build = service["build"]
    assert build["dockerfile"] == "deploy/Dockerfile"
    assert os.path.samefile(build["context"], DEPLOY.parent), "build context must be the repo root"
    env = environment(service)
    assert env["MOTCUA_DATABASE_URL"] == "postgresql://motcua:pw@postgres:5432/motcua"
    assert env["MOTCUA_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["MOTCUA_OIDC_ISSUER"].startswith("https://"), "officers sign in with the IdP"
    assert "MOTCUA_JWT_SECRET" not in env, "production takes no HS256 secret"
    assert len(env["MOTCUA_PIN_PEPPER"]) >= 32
    assert published_ports(service) == {8000: PORTS[name]}
    for dependency in INFRA:
        assert service["depends_on"][dependency]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(service["healthcheck"]["test"])


def test_secrets_and_portal_keys_come_from_the_environment() -> None:
    assert environment(services()["intake"])["INTAKE_PORTAL_KEYS"] == "", "no demo keys by default"
    assert environment(services()["feedback"])["FEEDBACK_PORTAL_KEYS"] == "", "nor for complaints"
    assert ":" in environment(services()["postal"])["POSTAL_COURIER_SECRETS"]
    result = render(**{**SECRETS, "MOTCUA_OIDC_ISSUER": "https://sso.other.gov.vn/realms/x",
                       "POSTAL_COURIER_SECRETS": "vnpost:s3cr3t", "POSTGRES_PASSWORD": "pw2"})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)["services"]
    for name in SERVICES:
        env = environment(config[name])
        assert env["MOTCUA_OIDC_ISSUER"] == "https://sso.other.gov.vn/realms/x"
        assert env["MOTCUA_DATABASE_URL"] == "postgresql://motcua:pw2@postgres:5432/motcua"
    assert environment(config["postal"])["POSTAL_COURIER_SECRETS"] == "vnpost:s3cr3t"
    assert environment(config["postgres"])["POSTGRES_PASSWORD"] == "pw2"


def test_kafka_is_a_single_kraft_node_that_keeps_its_topics() -> None:
    kafka = services()["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_LOG_RETENTION_HOURS"] == "-1", "the metrics rebuild replays from the start"
    assert env["KAFKA_LOG_DIRS"] in mounts(kafka), "the log directory must be a volume"
    assert kafka["healthcheck"]["test"]


def test_postgres_has_a_volume_and_a_pg_isready_healthcheck() -> None:
    postgres = services()["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "/var/lib/postgresql/data" in mounts(postgres), "the data directory must be a volume"
    env = environment(postgres)
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == ("motcua", "motcua")


def test_prometheus_mounts_the_config_and_the_rules() -> None:
    prometheus = services()["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus")
    mounted = mounts(prometheus)
    assert os.path.samefile(mounted["/etc/prometheus/prometheus.yml"], DEPLOY / "prometheus/prometheus.yml")
    assert os.path.samefile(mounted["/etc/prometheus/alerts.yml"], DEPLOY / "prometheus/alerts.yml")
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


class _Status(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def readyz_server() -> Iterator[tuple[int, type[_Status]]]:
    handler = type("Handler", (_Status,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_command_fails_on_503(readyz_server: tuple[int, type[_Status]]) -> None:
    """The image has no curl: the python one-liner must exit non-zero when /readyz is 503."""
    port, handler = readyz_server
    test = services()["intake"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    argv = [sys.executable, *(a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in test[2:])]
    assert f"127.0.0.1:{port}/readyz" in " ".join(argv)
    handler.status = 200
    assert subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0
    handler.status = 503
    assert subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode != 0
