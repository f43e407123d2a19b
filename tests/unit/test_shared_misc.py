"""Settings prefixes, personal-data masking in logs, and problem details."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from shared.logging import JsonFormatter
from shared.masking import mask_personal_data
from shared.problems import Problem, install_problem_handlers


def test_service_prefix_wins_over_project_wide_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.intake.settings import Settings as IntakeSettings
    from services.processing.settings import Settings as ProcessingSettings

    monkeypatch.setenv("MOTCUA_DATABASE_URL", "postgresql://all@h/db")
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://intake@h/db")
    monkeypatch.setenv("PROCESSING_PORT", "9102")
    assert IntakeSettings().database_url == "postgresql://intake@h/db"
    assert ProcessingSettings().database_url == "postgresql://all@h/db"
    assert ProcessingSettings().port == 9102
    assert IntakeSettings().db_schema == "intake"


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("applicant 079203001234 filed", "079203001234"),
        ("call 0912345678 now", "0912345678"),
        ("call +84 912 345 678 now", "912 345 678"),
        ("old id 123456789", "123456789"),
    ],
)
def test_personal_numbers_are_masked(text: str, leak: str) -> None:
    masked = mask_personal_data(text)
    assert leak not in masked
    assert masked[-8:] == text[-8:] or "*" in masked


def test_json_log_lines_mask_messages_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "phone %s", ("0912345678",), None)
    record.applicant_id = "079203001234"
    line = json.loads(JsonFormatter("intake").format(record))
    assert line["service"] == "intake" and line["level"] == "info"
    assert "0912345678" not in line["message"] and line["message"].endswith("678")
    assert line["applicant_id"] == "*********234"


class Body(BaseModel):
    unit_code: str = Field(min_length=2)
    days: int = Field(ge=0)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, type_base="/problems/")

    @app.post("/things")
    def create(body: Body) -> dict[str, str]:
        if body.unit_code == "XX":
            raise Problem(409, "Conflict", "illegal in state received", state="received")
        if body.unit_code == "boom":
            raise RuntimeError("secret 079203001234")
        return {"ok": "yes"}

    return app


def test_validation_errors_are_problem_details_naming_the_field() -> None:
    r = TestClient(_app()).post("/things", json={"unit_code": "A", "days": -1})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 422 and body["title"] == "Invalid request"
    assert {e["field"] for e in body["errors"]} == {"body:/unit_code", "body:/days"}


def test_domain_problems_and_unknown_routes_are_problem_details() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    r = client.post("/things", json={"unit_code": "XX", "days": 1})
    assert r.status_code == 409 and r.json()["state"] == "received"
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["title"] == "Not Found"
    r = client.post("/things", json={"unit_code": "boom", "days": 1})
    assert r.status_code == 500 and "079203001234" not in r.text
