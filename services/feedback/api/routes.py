"""The feedback REST surface: a citizen rates a finished dossier with the receipt's PIN.
Routes translate HTTP to the service layer's commands and its refusals to problems."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.domain.rating import (
    RatingRefused,
    TooManyGuesses,
    WrongPin,
    decree61_total,
    source_key,
)
from services.feedback.service_layer.handlers import (
    FeedbackHandlers,
    RatingNotFound,
    SubmitRating,
)
from shared.audit import audit_note, audited
from shared.auth import Principal, TokenSent, bearer, business_time, verify_token
from shared.docs import answers, security
from shared.events import CriteriaScores, DossierCode, Rating
from shared.problems import Problem
from shared.runtime import clock_of, provided
from shared.textbounds import PlainText
from shared.timebounds import AwareMoment, LocalTime

router = APIRouter(prefix="/v1")


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


ANSWERS = answers(403, 409, 422, 429, said={
    403: "the dossier code and PIN do not match (the same answer whether or not the dossier "
         "exists)",
    409: "not finished yet (or not yet known here), or already rated",
    429: "too many wrong PINs for this dossier or from this address; see Retry-After"})


Handlers = Annotated[FeedbackHandlers, Depends(provided(FeedbackHandlers))]


@contextmanager
def refusals() -> Iterator[None]:
    """The service layer's refusals as problem documents."""
    try:
        yield
    except TooManyGuesses as e:
        raise Problem(429, "Too Many Requests",
                      "too many wrong PINs for this dossier or from this address",
                      headers={"Retry-After": str(e.retry_after_s)}) from e
    except WrongPin as e:
        raise Problem(403, "Forbidden", "the dossier code and PIN do not match a receipt") from e
    except RatingRefused as e:
        raise Problem(409, "Conflict", e.why.value, type_="feedback-refused") from e
    except RatingNotFound as e:
        raise Problem(404, "Not Found", str(e)) from e


def importer_sent(request: Request, body: FeedbackRequest, token: TokenSent) -> bool:
    """Whether a back-dated ``at`` comes with an importer's token (read only then)."""
    return body.at is not None and token is not None \
        and verify_token(request, token.credentials).role == "importer"


@router.post("/feedback", status_code=201, response_model=FeedbackView, tags=["feedback"],
             summary="Rate a finished dossier (one rating per dossier)", responses=ANSWERS,
             # The receipt's PIN authenticates; a token only lets an importer back-date.
             openapi_extra=security({}, {"bearerToken": []}),
             dependencies=[audited("change:rating")])  # recorded when a token came
async def submit(body: FeedbackRequest, request: Request, response: Response, app: Handlers,
                 token: TokenSent = None) -> FeedbackView:
    audit_note(request, body.dossier_code)
    at = business_time(body.at, importer_sent(request, body, token), now=clock_of(request).now())
    source = source_key(request.client.host if request.client else "unknown")
    with refusals():
        rated = await app.submit_rating(SubmitRating(body.dossier_code, body.pin, body.rating,
                                                     body.criteria, body.comment, at, source))
    response.headers["Location"] = f"/v1/feedback/{body.dossier_code}"
    return FeedbackView(dossier_code=body.dossier_code, unit_code=rated.unit_code,
                        rating=body.rating, criteria=body.criteria,
                        decree61_total=decree61_total(body.criteria), comment=rated.comment,
                        at=at)


@router.get("/feedback/{dossier_code}", response_model=FeedbackView, tags=["feedback"],
            summary="The rating of a dossier (officers and operators of its unit)",
            responses=answers(401, 404, said={404: "no rating among your units"}))
async def read(dossier_code: str, app: Handlers,
               who: Annotated[Principal, Depends(bearer())]) -> FeedbackView:
    with refusals():
        row = await app.rating_of(dossier_code, who)
    criteria = CriteriaScores.model_validate(row["criteria"]) if row["criteria"] else None
    return FeedbackView(dossier_code=row["dossier_code"], unit_code=row["unit_code"],
                        rating=row["rating"], criteria=criteria,
                        decree61_total=decree61_total(criteria), comment=row["comment"],
                        at=row["at"])
