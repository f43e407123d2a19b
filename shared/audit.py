"""The audit trail (docs/security.md, docs/decisions/0017): every read of personal data and
every change made by an officer, operator, importer, portal or desk, and every key change,
as one append-only record in the service's schema: who (``actor``, ``actor_role``), what
(``action``), about what (``subject``: a dossier's or complaint's code, a unit, a portal),
when, from where (the client address as uvicorn gives it, trusted proxies honoured) and the
outcome (``ok``, ``refused:<status>``, ``failed:<status>``). Codes, ids and subjects only:
never a name, a phone or an ID number.

Each record's ``hash`` is SHA-256 over the previous record's hash and a canonical JSON of its
own fields (:func:`chain_hash`); records are numbered 1, 2, 3... under a per-schema advisory
lock, so the chain is linear however many replicas append. :func:`verify` finds the first
record that is not what the chain says: an edited field, a deleted record (a gap in ``seq``,
or a ``prev_hash`` that does not match), a reordered one.

Routes declare their audit in one line, ``dependencies=[audited("read:dossier",
subject="code")]``: the record is written when the route has answered (refusals included)
and before the answer is sent, so a read that cannot be recorded is not served. A caller
that was not identified (no or a bad credential: a 401) is not recorded.

Operators: ``GET /v1/ops/audit`` (search) and ``GET /v1/ops/audit/verify`` in every
service; ``python -m shared.audit verify --database-url URL --schema intake`` from a shell.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from shared.auth import Principal, bearer
from shared.db import TRANSIENT, check_schema_name
from shared.docs import answers
from shared.idempotency import KeyReused
from shared.masking import mask_personal_data
from shared.problems import Problem, invalid
from shared.runtime import get_runtime
from shared.timebounds import AwareMoment, LocalTime

GENESIS = "0" * 64  # the prev_hash of record 1
_COLUMNS = "seq, at, actor, actor_role, action, subject, source, outcome, detail, prev_hash, hash"
_BATCH = 5000  # records read at a time when verifying


# ------------------------------------------------------------------ records (pure)
@dataclass(frozen=True)
class Entry:
    """What is recorded, before it is numbered and chained."""

    actor: str
    actor_role: str
    action: str
    subject: str | None
    source: str
    outcome: str
    detail: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    subject: str | None
    source: str
    outcome: str
    detail: str | None
    prev_hash: str
    hash: str

    @property
    def entry(self) -> Entry:
        return Entry(self.actor, self.actor_role, self.action, self.subject, self.source,
                     self.outcome, self.detail)


def canonical(seq: int, at: datetime, entry: Entry) -> bytes:
    """The record's fields as canonical JSON: sorted keys, no spaces, UTF-8, the time in UTC
    to the microsecond (what PostgreSQL keeps)."""
    if at.tzinfo is None:
        raise ValueError("audit times need a timezone")
    fields = {"seq": seq, "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
              **asdict(entry)}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def chain_hash(prev_hash: str, seq: int, at: datetime, entry: Entry) -> str:
    """SHA-256 (hex) over the previous record's hash, a newline and :func:`canonical`."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(seq, at, entry)).hexdigest()


@dataclass(frozen=True)
class Tip:
    """The last record of a chain (seq 0 and GENESIS: an empty one)."""

    seq: int = 0
    hash: str = GENESIS


def chained(entries: Iterable[Entry], at: datetime, after: Tip = Tip()) -> list[AuditRecord]:
    """``entries`` numbered and chained after ``after``, all at ``at``."""
    out: list[AuditRecord] = []
    seq, prev = after.seq, after.hash
    for e in entries:
        seq += 1
        h = chain_hash(prev, seq, at, e)
        out.append(AuditRecord(seq, at, e.actor, e.actor_role, e.action, e.subject, e.source,
                               e.outcome, e.detail, prev, h))
        prev = h
    return out


def verify(records: Iterable[AuditRecord], after: Tip = Tip()) -> int | None:
    """The first seq at which ``records`` (in the order given, which should be seq order)
    stop being the chain that follows ``after``, or None if they all are. A missing record
    is reported by its seq; an edited one by its own seq (its hash no longer matches); a
    record moved elsewhere by the first seq out of place."""
    seq, prev = after.seq, after.hash
    for r in records:
        seq += 1
        if r.seq != seq or r.prev_hash != prev or r.hash != chain_hash(prev, r.seq, r.at, r.entry):
            return seq
        prev = r.hash
    return None


def outcome_of(status: int) -> str:
    """An HTTP status as an outcome: ok (below 400), refused:<4xx>, failed:<5xx>."""
    if status < 400:
        return "ok"
    return f"{'refused' if status < 500 else 'failed'}:{status}"


def status_of(exc: BaseException) -> int:
    """The status a route's exception is answered with (shared/problems.py's handlers)."""
    if isinstance(exc, Problem):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError | KeyReused | asyncpg.CharacterNotInRepertoireError
                  | asyncpg.UntranslatableCharacterError):
        return 422
    if isinstance(exc, TRANSIENT):
        return 503
    return 500


def caller_of(state: Any) -> tuple[str, str] | None:
    """(actor, role) of the caller the route's guard identified: an officer's (importer's,
    operator's) token from ``state.principal``, a portal's or desk's key from
    ``state.portal`` (``id`` or ``portal_id``, and ``role``); None if neither."""
    principal = getattr(state, "principal", None)
    if isinstance(principal, Principal):
        return principal.subject, principal.role
    portal = getattr(state, "portal", None)
    ident = getattr(portal, "id", None) or getattr(portal, "portal_id", None)
    role = getattr(portal, "role", None)
    if isinstance(ident, str) and isinstance(role, str):
        return ident, role
    return None


# ------------------------------------------------------------------ PostgreSQL
def _record(row: asyncpg.Record) -> AuditRecord:
    return AuditRecord(**dict(row))


async def append(conn: asyncpg.Connection, entries: Sequence[Entry],
                 at: datetime) -> list[AuditRecord]:
    """Chain ``entries`` after the schema's last record and insert them, under the schema's
    audit lock (in the caller's transaction if there is one, else in one of its own)."""
    return (await append_groups(conn, [(entries, at)]))[0]


# The tip is read by a statement of its own after the lock is held: a statement sees what
# was committed when it began, and the lock's previous holder commits while we wait.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('audit:' || current_schema()))"
_TIP = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_INSERT = f"""INSERT INTO audit_log ({_COLUMNS})
              SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[],
                                   $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                                   $10::text[], $11::text[])"""


async def append_groups(conn: asyncpg.Connection,
                        groups: Sequence[tuple[Sequence[Entry], datetime]]
                        ) -> list[list[AuditRecord]]:
    """:func:`append` for several callers' entries at once, chained one group after the other:
    one lock, one read of the tip, one insert."""
    if not any(entries for entries, _ in groups):
        return [[] for _ in groups]
    async with conn.transaction():
        await conn.execute(_LOCK)
        tip = await conn.fetchrow(_TIP)
        after = Tip(tip["seq"], tip["hash"]) if tip is not None else Tip()
        out: list[list[AuditRecord]] = []
        for entries, at in groups:
            records = chained(entries, at, after)
            if records:
                after = Tip(records[-1].seq, records[-1].hash)
            out.append(records)
        rows = [r for records in out for r in records]
        await conn.execute(_INSERT, *([getattr(r, c) for r in rows]
                                      for c in _COLUMNS.split(", ")))
    return out


class AuditWriter:
    """Appends the records of every request waiting meanwhile in one transaction (a group
    commit): a caller still waits until its own records are committed, so a read that cannot
    be recorded is not served, but concurrent requests share one lock, one read of the tip
    and one insert instead of queueing on the schema's lock one by one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._waiting: list[tuple[Sequence[Entry], datetime, asyncio.Future[list[AuditRecord]]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def append(self, entries: Sequence[Entry], at: datetime) -> list[AuditRecord]:
        if not entries:
            return []
        done: asyncio.Future[list[AuditRecord]] = asyncio.get_running_loop().create_future()
        self._waiting.append((entries, at, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self.pool.acquire() as conn:
                    written = await append_groups(conn, [(e, at) for e, at, _ in batch])
            except Exception as exc:  # every caller of the batch is refused alike
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, _, done), records in zip(batch, written, strict=True):
                if not done.done():  # a caller that went away meanwhile
                    done.set_result(records)


@dataclass(frozen=True)
class Wanted:
    actor: str | None = None
    action: str | None = None  # the action or its beginning (read:, change:, key:)
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


async def search(conn: asyncpg.Connection | asyncpg.Pool, w: Wanted) -> list[AuditRecord]:
    """Records matching ``w``, newest first."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM audit_log
            WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR starts_with(action, $2))
              AND ($3::text IS NULL OR subject = $3) AND ($4::timestamptz IS NULL OR at >= $4)
              AND ($5::timestamptz IS NULL OR at < $5)
            ORDER BY seq DESC LIMIT $6""", w.actor, w.action, w.subject, w.since, w.until, w.limit)
    return [_record(r) for r in rows]


@dataclass(frozen=True)
class ChainState:
    checked: int
    first_broken_seq: int | None
    last_seq: int | None = field(default=None)
    last_hash: str | None = field(default=None)

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


async def check(conn: asyncpg.Connection | asyncpg.Pool) -> ChainState:
    """The chain of the schema, read in seq order a batch at a time and verified."""
    tip, checked, position = Tip(), 0, 0
    while True:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq "
                                "LIMIT $2", position, _BATCH)
        if not rows:
            return ChainState(checked, None, tip.seq or None, tip.hash if tip.seq else None)
        batch = [_record(r) for r in rows]
        broken = verify(batch, tip)
        checked += len(batch) if broken is None else broken - tip.seq - 1
        if broken is not None:
            return ChainState(checked, broken, batch[-1].seq, batch[-1].hash)
        tip = Tip(batch[-1].seq, batch[-1].hash)
        position = tip.seq


# ------------------------------------------------------------------ routes declare their audit
def audit_note(request: Request, *subjects: str, action: str | None = None) -> None:
    """What the route knows and its declaration cannot: subjects that are not a path
    parameter (the code a filing got, the codes a lookup asked for, the complaints a list
    showed: one record each), or the action when the body names it (a complaint's step).
    Note before the work that may be refused, so that a refusal carries it too."""
    noted: list[str] = getattr(request.state, "audit_subjects", [])
    noted.extend(subjects)
    request.state.audit_subjects = noted
    if action is not None:
        request.state.audit_action = action


def _given(request: Request, name: str) -> str | None:
    """A path or query parameter as the client sent it, masked and cut short: on a refusal
    it was not validated."""
    value = request.path_params.get(name) or request.query_params.get(name)
    return _storable(mask_personal_data(str(value))[:64]) if value else None


def _storable(text: str) -> str:
    """PostgreSQL keeps no NUL character in text: a client's would fail the record."""
    return text.replace("\x00", "\ufffd")


@dataclass(frozen=True)
class AuditStep:
    """The dependency :func:`audited` declares: runs around the route and records it."""

    action: str  # may name path parameters: "change:processing.{action}"
    subject: str | None = None  # the path parameter naming the subject
    detail: tuple[str, ...] = ()  # parameters kept as name=value

    def entries(self, request: Request, status: int) -> list[Entry]:
        caller = caller_of(request.state)
        if caller is None:
            return []  # not identified: nobody to record (docs/decisions/0017)
        action = getattr(request.state, "audit_action", None) or self.action.format_map(
            {k: _given(request, k) for k in request.path_params})
        given = _given(request, self.subject) if self.subject else None
        subjects = ([given] if given else []) + list(getattr(request.state, "audit_subjects", []))
        detail = " ".join(f"{k}={v}" for k in self.detail if (v := _given(request, k))) or None
        source = request.client.host if request.client else "unknown"
        return [Entry(_storable(caller[0]), _storable(caller[1]), action, s and _storable(s),
                      source, outcome_of(status), detail)
                for s in dict.fromkeys(subjects or [None])]

    async def record(self, request: Request, status: int) -> None:
        entries = self.entries(request, status)
        if entries:
            runtime = get_runtime(request)
            try:
                writer = runtime.component(AuditWriter)
            except LookupError:  # an app built without the service's lifespan
                writer = AuditWriter(runtime.pool)
            await writer.append(entries, runtime.clock.now())

    async def __call__(self, request: Request, response: Response) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:  # a refusal: recorded, then answered as it would be
            await self.record(request, status_of(exc))
            raise
        route = request.scope.get("route")
        await self.record(request, response.status_code or getattr(route, "status_code", None)
                          or 200)


def audited(action: str, *, subject: str | None = None, detail: Sequence[str] = ()) -> Any:
    """``dependencies=[audited("read:dossier", subject="code")]``: the route's audit; the
    dependency runs around the route (and its guard) and records once it has answered."""
    return Depends(AuditStep(action, subject, tuple(detail)), scope="function")


def audit_of(route: Any) -> AuditStep | None:
    """The audit a route declares (for the tests that walk the route table)."""
    dependant = getattr(route, "dependant", None)
    for dep in getattr(dependant, "dependencies", ()):
        if isinstance(dep.call, AuditStep):
            return dep.call
    return None


# ------------------------------------------------------------------ the operators' API
router = APIRouter(prefix="/v1/ops", tags=["operations"])
Operator = Annotated[Principal, Depends(bearer("operator"))]


class AuditView(BaseModel):
    seq: int
    at: LocalTime
    actor: str
    actor_role: str
    action: str
    subject: str | None
    source: str
    outcome: str
    detail: str | None
    prev_hash: str
    hash: str


class ChainView(BaseModel):
    checked: int = Field(description="records verified, in seq order, up to the first break")
    first_broken_seq: int | None = Field(description="the first record missing, edited or out "
                                         "of place; null: the chain is intact")
    last_seq: int | None = Field(description="the last record read; keep it with last_hash: "
                                 "records deleted from the end show only against it")
    last_hash: str | None
    intact: bool


@router.get("/audit", response_model=list[AuditView],
            summary="This service's audit trail, newest first", responses=answers(401, 403, 422))
async def search_audit(request: Request, _who: Operator,
                       actor: Annotated[str | None, Query(max_length=200)] = None,
                       action: Annotated[str | None, Query(max_length=100, description=(
                           "the action or its beginning: read:, change:, key:"))] = None,
                       subject: Annotated[str | None, Query(max_length=100, description=(
                           "a dossier's or complaint's code, a unit, a portal"))] = None,
                       since: Annotated[AwareMoment | None, Query(alias="from")] = None,
                       until: Annotated[AwareMoment | None, Query(alias="to")] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditView]:
    if since and until and until < since:
        raise invalid(("query:/to", "must not be before from"))
    found = await search(get_runtime(request).pool, Wanted(actor, action, subject, since, until,
                                                           limit))
    return [AuditView(**asdict(r)) for r in found]


@router.get("/audit/verify", response_model=ChainView,
            summary="Verify this service's audit chain", responses=answers(401, 403))
async def verify_audit(request: Request, _who: Operator) -> ChainView:
    state = await check(get_runtime(request).pool)
    return ChainView(**asdict(state), intact=state.intact)


# ------------------------------------------------------------------ the command
async def _verify(database_url: str, schema: str) -> ChainState:
    check_schema_name(schema)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        return await check(conn)
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shared.audit verify --database-url URL --schema intake``: exits 1 when the
    chain is broken, 0 when it is intact."""
    parser = argparse.ArgumentParser(prog="python -m shared.audit",
                                     description="The audit trail of one service's schema")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify the hash chain")
    v.add_argument("--database-url", required=True)
    v.add_argument("--schema", required=True, help="intake, processing, ...")
    args = parser.parse_args(argv)
    state = asyncio.run(_verify(args.database_url, args.schema))
    print(json.dumps({**asdict(state), "intact": state.intact}, indent=2))
    return 0 if state.intact else 1


if __name__ == "__main__":
    sys.exit(main())
