"""The audit chain, pure: the hash of a record, and verify() finding an edited, a deleted and a
reordered record (shared/audit.py)."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from shared.audit import (
    GENESIS,
    AuditRecord,
    AuditStep,
    Entry,
    Tip,
    audit_note,
    caller_of,
    canonical,
    chain_hash,
    chained,
    outcome_of,
    status_of,
    verify,
)
from shared.auth import Principal
from shared.portal_keys import KeyHolder
from shared.problems import Problem

AT = datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC)
ENTRY = Entry("officer-1", "officer", "change:processing.resolve", "H26.01-260302-0001",
              "10.0.0.7", "ok")


def log(n: int) -> list[AuditRecord]:
    entries = [replace(ENTRY, subject=f"H26.01-260302-{i:04d}") for i in range(1, n + 1)]
    return chained(entries, AT)


def test_the_hash_is_sha256_over_the_previous_hash_and_canonical_json() -> None:
    body = ('{"action":"change:processing.resolve","actor":"officer-1","actor_role":"officer",'
            '"at":"2026-03-02T08:30:00.123456+00:00","detail":null,"outcome":"ok",'
            '"seq":1,"source":"10.0.0.7","subject":"H26.01-260302-0001"}')
    assert canonical(1, AT, ENTRY) == body.encode()
    assert chain_hash(GENESIS, 1, AT, ENTRY) == \
        hashlib.sha256(GENESIS.encode() + b"\n" + body.encode()).hexdigest()


def test_the_hash_does_not_depend_on_the_zone_the_time_is_written_in() -> None:
    in_hanoi = AT.astimezone(timezone(timedelta(hours=7)))
    assert chain_hash(GENESIS, 1, in_hanoi, ENTRY) == chain_hash(GENESIS, 1, AT, ENTRY)
    with pytest.raises(ValueError):
        canonical(1, AT.replace(tzinfo=None), ENTRY)


def test_every_field_is_covered() -> None:
    base = chain_hash(GENESIS, 1, AT, ENTRY)
    changed = [chain_hash("1" * 64, 1, AT, ENTRY), chain_hash(GENESIS, 2, AT, ENTRY),
               chain_hash(GENESIS, 1, AT + timedelta(microseconds=1), ENTRY)]
    changed += [chain_hash(GENESIS, 1, AT, replace(ENTRY, **{f: "x"}))
                for f in ("actor", "actor_role", "action", "subject", "source", "outcome",
                          "detail")]
    assert base not in changed and len(set(changed)) == len(changed)


def test_a_good_chain_and_an_empty_log_verify() -> None:
    records = log(5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert verify(records) is None
    assert verify([]) is None
    # A chain continued from its tip, as the verifier reads it in batches.
    more = chained([ENTRY], AT, Tip(5, records[-1].hash))
    assert verify(more, Tip(5, records[-1].hash)) is None
    assert verify(records + more) is None


def test_an_edited_record_is_found() -> None:
    records = log(5)
    records[2] = replace(records[2], actor="someone-else")
    assert verify(records) == 3


def test_an_edited_record_whose_hash_was_recomputed_breaks_the_next_link() -> None:
    records = log(5)
    edited = replace(records[2], outcome="refused:403")
    records[2] = replace(edited, hash=chain_hash(edited.prev_hash, 3, AT, edited.entry))
    assert verify(records) == 4


def test_a_deleted_record_is_found() -> None:
    records = log(5)
    del records[1]
    assert verify(records) == 2  # the missing one
    # Renumbered to close the gap: the link to the record before no longer holds.
    renumbered = records[:1] + [replace(r, seq=r.seq - 1) for r in records[1:]]
    assert verify(renumbered) == 2


def test_the_first_record_deleted_is_found() -> None:
    assert verify(log(3)[1:]) == 1


def test_a_reordered_record_is_found() -> None:
    records = log(5)
    records[1], records[3] = records[3], records[1]
    assert verify(records) == 2
    # Their seq swapped back into order: the hashes cover seq and the links.
    a, b = records[1], records[3]
    records[1], records[3] = replace(a, seq=2), replace(b, seq=4)
    assert verify(records) == 2


@given(n=st.integers(min_value=1, max_value=30), data=st.data())
def test_any_single_tampering_is_found_at_or_before_the_record(n: int, data: st.DataObject) -> None:
    records = log(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    how = data.draw(st.sampled_from(["edit", "delete", "swap", "rehash"]))
    tampered = list(records)
    expected: int | None
    if how == "edit":
        field = data.draw(st.sampled_from(["actor", "action", "subject", "outcome", "source"]))
        tampered[i] = replace(records[i], **{field: records[i].entry.__dict__[field] + "!"})
        expected = i + 1
    elif how == "rehash":
        edited = replace(records[i], subject="other")
        tampered[i] = replace(edited, hash=chain_hash(edited.prev_hash, edited.seq, AT,
                                                      edited.entry))
        expected = i + 2 if i + 1 < n else None  # the last one re-hashed: see the tip
    elif how == "delete":
        del tampered[i]
        expected = i + 1 if i + 1 < n else None  # the last one deleted: see the tip
    else:
        j = data.draw(st.integers(min_value=0, max_value=n - 1))
        tampered[i], tampered[j] = records[j], records[i]
        expected = min(i, j) + 1 if i != j else None
    assert verify(tampered) == expected


def test_outcomes_and_statuses() -> None:
    assert [outcome_of(s) for s in (200, 201, 204, 403, 404, 422, 503)] == \
        ["ok", "ok", "ok", "refused:403", "refused:404", "refused:422", "failed:503"]
    assert status_of(Problem(409, "Conflict")) == 409
    assert status_of(ConnectionResetError()) == 503
    assert status_of(RuntimeError()) == 500


def test_the_caller_is_a_principal_or_a_portal_or_nobody() -> None:
    officer = Principal("officer-1", "officer", frozenset({"H26.01"}))
    assert caller_of(SimpleNamespace(principal=officer)) == ("officer-1", "officer")
    assert caller_of(SimpleNamespace(portal=SimpleNamespace(id="desk-demo", role="desk"))) == \
        ("desk-demo", "desk")
    assert caller_of(SimpleNamespace(portal=KeyHolder("dvc-demo", "portal"))) == \
        ("dvc-demo", "portal")
    assert caller_of(SimpleNamespace()) is None


def request(path_params: dict[str, str], query: bytes = b"") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "path_params": path_params,
                    "query_string": query, "headers": [], "client": ("10.0.0.7", 50000)})


def test_a_route_s_records_name_the_caller_the_action_and_each_subject() -> None:
    step = AuditStep("change:processing.{action}", subject="code")
    r = request({"code": "H26.01-260302-0001", "action": "resolve"})
    assert step.entries(r, 401) == []  # nobody identified: nothing recorded
    r.state.principal = Principal("officer-1", "officer", frozenset({"H26.01"}))
    assert step.entries(r, 200) == [Entry("officer-1", "officer", "change:processing.resolve",
                                          "H26.01-260302-0001", "10.0.0.7", "ok")]
    listing = AuditStep("read:complaints")
    r = request({})
    r.state.portal = KeyHolder("dvc-demo", "portal")
    assert [e.subject for e in listing.entries(r, 200)] == [None]
    audit_note(r, "PAKN-1", "PAKN-2", "PAKN-1")
    assert [(e.subject, e.outcome) for e in listing.entries(r, 403)] == \
        [("PAKN-1", "refused:403"), ("PAKN-2", "refused:403")]
    audit_note(r, action="change:complaint.answer")
    assert {e.action for e in listing.entries(r, 200)} == {"change:complaint.answer"}


def test_what_a_client_sent_is_masked_cut_and_storable_in_the_record() -> None:
    step = AuditStep("read:register", subject="unit_code", detail=("from", "to"))
    r = request({"unit_code": "0912345678\x00" + "x" * 100},
                b"from=2026-03-01&to=a%40example.vn")
    r.state.principal = Principal("officer-1", "officer", frozenset())
    [e] = step.entries(r, 404)
    assert e.subject is not None and len(e.subject) == 64
    assert e.subject.startswith("*******678\ufffd") and "\x00" not in e.subject
    assert e.detail == "from=2026-03-01 to=a***@example.vn"
