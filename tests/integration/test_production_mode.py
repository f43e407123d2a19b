"""A service started in production mode (the default) with a published default secret exits
non-zero at once, with one clear log line naming the settings to set; with secrets of its
own it gets past that check."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from tests.support.api import ROOT_DIR

IDP = "https://sso.haiphong.example.vn/realms/haiphong"
SERVICES = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")
# What each service needs set in production, besides the identity provider (OIDC_ISSUER).
OWN_SECRETS = {"intake": ("INTAKE_PIN_PEPPER", "INTAKE_PORTAL_KEYS"),
               "feedback": ("FEEDBACK_PIN_PEPPER", "FEEDBACK_PORTAL_KEYS"),
               "postal": ("POSTAL_COURIER_SECRETS",),
               "national_portal": ("NATIONAL_PORTAL_PORTAL_PASSWORD",
                                   "NATIONAL_PORTAL_INTAKE_KEY")}


def start(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MOTCUA_", "INTAKE_", "PROCESSING_", "POSTAL_", "FEEDBACK_",
                                  "METRICS_", "NATIONAL_PORTAL_"))}
    return subprocess.run([sys.executable, "-m", f"services.{service}.main"], cwd=ROOT_DIR,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("service", SERVICES)
def test_a_default_secret_stops_a_production_start(service: str) -> None:
    result = start(service)  # no MOTCUA_ENV: production
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    [line] = [orjson.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert line["level"] == "critical"
    message = line["message"]
    assert "refusing to start in production mode" in message
    assert f"{service.upper()}_OIDC_ISSUER is not set" in message
    for variable in OWN_SECRETS.get(service, ()):
        assert variable in message, message


def test_secrets_of_its_own_pass_the_check() -> None:
    # Nothing listens on this database: the service gets past the secret check and then
    # fails to connect, which is another error than the refusal.
    result = start("postal", MOTCUA_OIDC_ISSUER=IDP, POSTAL_COURIER_SECRETS="vnpost:" + "c" * 40,
                   MOTCUA_DATABASE_URL="postgresql://nobody:x@127.0.0.1:9/none")
    assert result.returncode not in (0, 2)
    assert "refusing to start" not in result.stdout


def test_a_short_secret_is_refused_too() -> None:
    result = start("feedback", MOTCUA_OIDC_ISSUER=IDP, FEEDBACK_PIN_PEPPER="twenty-characters-xx",
                   FEEDBACK_PORTAL_KEYS="")
    assert result.returncode == 2
    assert "FEEDBACK_PIN_PEPPER is shorter than 32 characters" in result.stdout
    assert "JWT_SECRET" not in result.stdout


def test_a_shared_token_secret_is_refused_in_production() -> None:
    """HS256 shared secrets are for local runs: a production start given one is refused,
    saying why and what to set instead."""
    result = start("processing", MOTCUA_OIDC_ISSUER=IDP, MOTCUA_JWT_SECRET="j" * 40)
    assert result.returncode == 2
    assert ("PROCESSING_JWT_SECRET is set: HS256 shared secrets are for local runs only; in "
            "production officers' tokens come from the province's identity provider "
            "(PROCESSING_OIDC_ISSUER)") in result.stdout
