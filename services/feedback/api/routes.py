"""The feedback REST surface: a citizen rates a finished dossier with the receipt's PIN."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.adapters import repository as repo
from services.feedback.domain.rating import decree61_total, source_key
from services.feedback.service_layer.handlers import (
    RatingRefused,
    SubmitRating,
    TooManyGuesses,
    WrongPin,
    submit_rating,
)
from services.feedback.settings import Settings
from shared.auth import Principal, bearer, business_time, decode_token
from shared.events import CriteriaScores, DossierCode, Rating
from shared.problems import TYPE_BASE, Problem
from shared.service import get_runtime, settings_of
from shared.textbounds import PlainText
from shared.timebounds import AwareMoment, LocalTime

router = APIRouter(prefix="/v1")
optional_bearer = HTTPBearer(auto_error=False)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_code: DossierCode
    pin: str = Field(pattern=r"^\d{6}$", description="printed on the receipt")
    rating: Rating
    criteria: CriteriaScores | None = None
    comment: PlainText | None = Field(default=None, max_length=2000)
    at: AwareMoment | None = Field(default=None, description="importer token only")


class FeedbackView(BaseModel):
    dossier_code: str
    unit_code: str
    rating: Rating
    criteria: CriteriaScores | None
    decree61_total: int | None
    comment: str | None
    at: LocalTime


_responses: dict[int | str, dict[str, Any]] = {
    403: {"description": "the dossier code and PIN do not match (the same answer whether or "
                         "not the dossier exists)"},
    409: {"description": "not finished yet (or not yet known here), or already rated"},
    422: {"description": "invalid request; `errors` names the fields"},
    429: {"description": "too many wrong PINs for this dossier or from this address; see "
                         "Retry-After"},
}


@router.post("/feedback", status_code=201, response_model=FeedbackView, tags=["feedback"],
             summary="Rate a finished dossier (one rating per dossier)", responses=_responses)
async def submit(body: FeedbackRequest, request: Request, response: Response,
                 credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(optional_bearer)] = None) -> FeedbackView:
    runtime = get_runtime(request)
    s = settings_of(request, Settings)
    importer = body.at is not None and credentials is not None and decode_token(
        credentials.credentials, s.jwt_secret, s.jwt_audience, s.jwt_issuer).role == "importer"
    now = runtime.clock.now()
    at = business_time(body.at, importer, now=now)
    cmd = SubmitRating(dossier_code=body.dossier_code, pin=body.pin, rating=body.rating,
                       criteria=body.criteria, comment=body.comment, at=at,
                       source=source_key(request.client.host if request.client else "unknown"))
    try:
        rated = await submit_rating(runtime.pool, runtime.emit, cmd, now=now,
                                    policy=s.guessing_policy(), pepper=s.pin_pepper)
    except TooManyGuesses as e:
        raise Problem(429, "Too Many Requests",
                      "too many wrong PINs for this dossier or from this address",
                      headers={"Retry-After": str(e.retry_after_s)}) from e
    except WrongPin as e:
        raise Problem(403, "Forbidden", "the dossier code and PIN do not match a receipt") from e
    except RatingRefused as e:
        raise Problem(409, "Conflict", e.why.value, type_=TYPE_BASE + "feedback-refused") from e
    response.headers["Location"] = f"/v1/feedback/{body.dossier_code}"
    return FeedbackView(dossier_code=body.dossier_code, unit_code=rated.unit_code,
                        rating=body.rating, criteria=body.criteria,
                        decree61_total=decree61_total(body.criteria), comment=rated.comment,
                        at=at)


@router.get("/feedback/{dossier_code}", response_model=FeedbackView, tags=["feedback"],
            summary="The rating of a dossier (officers and operators of its unit)",
            responses={401: {"description": "no valid token"}, 404: {"description": "none"}})
async def read(dossier_code: str, request: Request,
               who: Annotated[Principal, Depends(bearer())]) -> FeedbackView:
    row = await repo.rating_of(get_runtime(request).pool, dossier_code)
    if row is None or not who.may_act_on(row["unit_code"]):
        raise Problem(404, "Not Found", f"no rating for {dossier_code} among your units")
    criteria = CriteriaScores.model_validate(row["criteria"]) if row["criteria"] else None
    return FeedbackView(dossier_code=row["dossier_code"], unit_code=row["unit_code"],
                        rating=row["rating"], criteria=criteria,
                        decree61_total=decree61_total(criteria), comment=row["comment"],
                        at=row["at"])
