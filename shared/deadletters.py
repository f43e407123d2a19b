"""Dead letters, for operators (docs/operations.md): list them per topic with their reasons,
show one, and re-drive one or all of them once the cause is fixed (a handler corrected and
deployed, a missing row added).

A re-drive reads the original message again from its topic (the dossier topics are kept
forever), at the partition and offset the dead letter recorded, and applies it through the
consumer that dead-lettered it, exactly as the loop would: the inbox row and the effect in
one transaction. So a re-driven event is applied once, and a dead letter re-driven twice
changes nothing the second time (``already_applied``). What became of each re-drive is kept
on the dead letter.

Every service that consumes serves ``/v1/ops/dead-letters`` to operators;
``python -m shared.deadletters`` is the same from a shell, through that API.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.audit import audited
from shared.auth import Principal, bearer
from shared.consumer import EventConsumer
from shared.docs import answers
from shared.masking import mask_personal_data
from shared.problems import Problem
from shared.runtime import get_runtime
from shared.timebounds import LocalTime

_COLUMNS = ("id, consumer, topic, kafka_partition, kafka_offset, reason, detail, at, event_id, "
            "event_type, redrives, redriven_at, redrive_outcome, redrive_detail")
# Outcomes after which there is nothing left to re-drive.
SETTLED = ("applied", "already_applied", "not_for_this_consumer")


class DeadLetter(BaseModel):
    id: int
    consumer: str
    topic: str
    kafka_partition: int
    kafka_offset: int
    reason: str
    detail: str = Field(description="the error, masked")
    at: LocalTime
    event_id: str | None
    event_type: str | None
    redrives: int
    redriven_at: LocalTime | None
    redrive_outcome: str | None
    redrive_detail: str | None


class DeadLetterMessage(DeadLetter):
    headers: dict[str, str] = Field(description="the message's headers as received")
    value: str | None = Field(description="the message's value as text, masked")


class Redriven(BaseModel):
    id: int
    outcome: str
    detail: str | None


class RedriveAll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: str | None = None
    consumer: str | None = None


def _row(r: asyncpg.Record) -> dict[str, Any]:
    out = dict(r)
    out["event_id"] = str(out["event_id"]) if out["event_id"] else None
    out["detail"] = mask_personal_data(out["detail"])
    return out


@dataclass
class DeadLetters:
    """The dead letters of one service's schema, and their re-drive through its consumers."""

    pool: asyncpg.Pool
    consumers: Sequence[EventConsumer]
    bootstrap: str

    async def of(self, topic: str | None, consumer: str | None, pending_only: bool,
                   limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"""SELECT {_COLUMNS} FROM dead_letters
                WHERE ($1::text IS NULL OR topic = $1) AND ($2::text IS NULL OR consumer = $2)
                  AND (NOT $3 OR redrive_outcome IS NULL
                       OR NOT redrive_outcome = ANY($4::text[]))
                ORDER BY id DESC LIMIT $5""", topic, consumer, pending_only, list(SETTLED),
            limit)
        return [_row(r) for r in rows]

    async def get(self, dead_letter_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1",
                                       dead_letter_id)
        return _row(row) if row else None

    async def message(self, found: dict[str, Any]) -> Any:
        """The original message, read again from its topic (None: no longer there)."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                  enable_auto_commit=False, client_id="dead-letter-redrive",
                                  isolation_level="read_committed")
        await reader.start()
        try:
            tp = TopicPartition(found["topic"], found["kafka_partition"])
            reader.assign([tp])
            reader.seek(tp, found["kafka_offset"])
            batch = await reader.getmany(tp, timeout_ms=5000, max_records=1)
            records = batch.get(tp, [])
            return records[0] if records and records[0].offset == found["kafka_offset"] \
                else None
        finally:
            await reader.stop()

    async def redrive(self, dead_letter_id: int) -> tuple[str, str | None] | None:
        """Re-drive one; None when there is no such dead letter."""
        found = await self.get(dead_letter_id)
        if found is None:
            return None
        consumer = next((c for c in self.consumers if c.name == found["consumer"]), None)
        rec = await self.message(found)
        if consumer is None:
            outcome: tuple[str, str | None] = ("still_failing",
                                               f"no consumer {found['consumer']} runs here")
        elif rec is None:
            outcome = ("gone", "the message is no longer on its topic")
        else:
            outcome = await consumer.redrive(rec)
        await self.pool.execute(
            """UPDATE dead_letters SET redrives = redrives + 1, redriven_at = now(),
                   redrive_outcome = $2, redrive_detail = $3 WHERE id = $1""",
            dead_letter_id, outcome[0], outcome[1])
        return outcome

    async def redrive_all(self, topic: str | None, consumer: str | None) -> list[Redriven]:
        """Every dead letter not yet settled, oldest first."""
        pending = sorted(d["id"] for d in await self.of(topic, consumer, True, 10_000))
        done = []
        for i in pending:
            outcome = await self.redrive(i)
            if outcome is not None:
                done.append(Redriven(id=i, outcome=outcome[0], detail=outcome[1]))
        return done


# ------------------------------------------------------------------ the operators' API
router = APIRouter(prefix="/v1/ops", tags=["operations"])
Operator = Annotated[Principal, Depends(bearer("operator"))]


async def dead_letters(request: Request) -> DeadLetters:
    # async: a plain function would be sent to the thread pool on every request
    runtime = get_runtime(request)
    return DeadLetters(runtime.pool, runtime.consumers, runtime.settings.kafka_bootstrap)


Letters = Annotated[DeadLetters, Depends(dead_letters)]


@router.get("/dead-letters", response_model=list[DeadLetter],
            summary="This service's dead letters, newest first, with their reasons",
            responses=answers(401, 403))
async def list_dead_letters(letters: Letters, _who: Operator, topic: str | None = None,
                            consumer: str | None = None, pending: bool = False,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                            ) -> list[DeadLetter]:
    return [DeadLetter(**d) for d in await letters.of(topic, consumer, pending, limit)]


@router.get("/dead-letters/{dead_letter_id}", response_model=DeadLetterMessage,
            summary="One dead letter, with its message read again from its topic (masked)",
            responses=answers(401, 403, 404))
async def show_dead_letter(dead_letter_id: int, letters: Letters,
                           _who: Operator) -> DeadLetterMessage:
    found = await letters.get(dead_letter_id)
    if found is None:
        raise Problem(404, "Not Found", f"no dead letter {dead_letter_id}")
    rec = await letters.message(found)
    headers = {k: v.decode(errors="replace") for k, v in (rec.headers if rec else ())}
    value = mask_personal_data(rec.value.decode(errors="replace")) if rec and rec.value else None
    return DeadLetterMessage(**found, headers=headers, value=value)


@router.post("/dead-letters/{dead_letter_id}/redrive", response_model=Redriven,
             summary="Apply one dead letter again (once: a second re-drive changes nothing)",
             responses=answers(401, 403, 404),
             dependencies=[audited("change:dead-letter.redrive", subject="dead_letter_id")])
async def redrive_one(dead_letter_id: int, letters: Letters, _who: Operator) -> Redriven:
    outcome = await letters.redrive(dead_letter_id)
    if outcome is None:
        raise Problem(404, "Not Found", f"no dead letter {dead_letter_id}")
    return Redriven(id=dead_letter_id, outcome=outcome[0], detail=outcome[1])


@router.post("/dead-letters/redrive", response_model=list[Redriven],
             summary="Apply again every dead letter not yet settled (of a topic, a consumer)",
             responses=answers(401, 403, 422),
             dependencies=[audited("change:dead-letter.redrive-all")])
async def redrive_every(body: RedriveAll, letters: Letters, _who: Operator) -> list[Redriven]:
    return await letters.redrive_all(body.topic, body.consumer)


# ------------------------------------------------------------------ the command
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shared.deadletters --service-url URL {list,show,redrive,redrive-all}``
    with an operator's token in ``MOTCUA_OPERATOR_TOKEN``."""
    parser = argparse.ArgumentParser(prog="python -m shared.deadletters",
                                     description="Dead letters of one service")
    parser.add_argument("--service-url", required=True, help="e.g. http://127.0.0.1:8005")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--topic")
    listing.add_argument("--pending", action="store_true")
    sub.add_parser("show").add_argument("id", type=int)
    sub.add_parser("redrive").add_argument("id", type=int)
    every = sub.add_parser("redrive-all")
    every.add_argument("--topic")
    args = parser.parse_args(argv)
    token = os.environ.get("MOTCUA_OPERATOR_TOKEN")
    if not token:
        print("set MOTCUA_OPERATOR_TOKEN to an operator's token", file=sys.stderr)
        return 2
    base = args.service_url.rstrip("/") + "/v1/ops/dead-letters"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60, headers=headers) as http:
        if args.command == "list":
            params = {k: v for k, v in (("topic", args.topic),) if v}
            if args.pending:
                params["pending"] = "true"
            r = http.get(base, params=params)
        elif args.command == "show":
            r = http.get(f"{base}/{args.id}")
        elif args.command == "redrive":
            r = http.post(f"{base}/{args.id}/redrive")
        else:
            r = http.post(f"{base}/redrive", json={"topic": args.topic})
    print(json.dumps(r.json(), ensure_ascii=False, indent=2))
    return 0 if r.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
