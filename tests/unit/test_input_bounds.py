"""Client input that the calendar or PostgreSQL cannot take (found by the schemathesis run):
times outside the supported span and NUL characters are 422 problems, not crashes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from shared.problems import install_problem_handlers
from shared.timebounds import EARLIEST, LATEST, AwareMoment, Day, Moment


class Body(BaseModel):
    at: AwareMoment
    day: Day | None = None


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+14:00",  # no UTC equivalent: astimezone overflows
    "9999-12-31T23:59:59-14:00",
    "1999-12-31T23:59:59Z",
    "2099-12-31T23:59:59-14:00",  # 2100 in UTC
])
def test_times_outside_the_span_are_refused(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Body.model_validate({"at": value})
    assert refused.value.errors()[0]["loc"] == ("at",)


def test_the_span_bounds() -> None:
    assert Body.model_validate({"at": EARLIEST}).at == EARLIEST
    assert Body.model_validate({"at": "2099-12-31T23:59:59+07:00"}).at < LATEST
    assert Body.model_validate({"at": "2026-11-16T10:00:00+07:00", "day": "2099-12-31"}).day \
        == date(2099, 12, 31)
    for day in ("0001-01-01", "1999-12-31", "2100-01-01", "9999-12-31"):
        with pytest.raises(ValidationError):
            Body.model_validate({"at": EARLIEST, "day": day})


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, type_base="/problems/")

    @app.get("/things")
    def things(as_of: Moment | None = None, name: str = Query("x")) -> dict[str, str]:
        if "\x00" in name:  # what asyncpg raises when PostgreSQL refuses the text
            raise asyncpg.CharacterNotInRepertoireError(
                'invalid byte sequence for encoding "UTF8": 0x00')
        if name == "json":
            raise asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")
        return {"as_of": str(as_of)}

    return app


def test_out_of_span_query_times_and_nul_characters_are_422_problems() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    r = client.get("/things", params={"as_of": "0001-01-01T00:00:00+14:00"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "query:/as_of"
    assert client.get("/things", params={"as_of": datetime(2026, 1, 1, tzinfo=UTC).isoformat()}
                      ).status_code == 200
    for name in ("a\x00b", "json"):
        r = client.get("/things", params={"name": name})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 422 and "NUL" in r.json()["detail"]
