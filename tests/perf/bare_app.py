"""The reference for intake: a bare FastAPI endpoint that validates the same body and does
nothing else (no database, no Kafka), under the same server and load generator."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Applicant(BaseModel):
    full_name: str
    id_number: str


class Filing(BaseModel):
    unit_code: str
    procedure_code: str
    channel: str
    applicant: Applicant


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/dossiers", status_code=201)
async def file(body: Filing) -> dict[str, str]:
    return {"code": f"{body.unit_code}-000000-0001"}
