"""The abstract test cases. A subclass provides the ``repos`` fixture: an object with the
service's repositories as attributes (a fake unit of work, or the PostgreSQL repositories on
a connection whose transaction is rolled back after the test)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.feedback.domain.rating import RatedDossier
from services.intake.domain.dossier import Dossier as IntakeDossier
from services.postal.domain.shipment import Shipment
from services.processing.adapters.repository import NewHop
from services.processing.domain.workflow import CLOCK_RUNNING, UNRESOLVED
from services.processing.domain.workflow import Dossier as ProcessingDossier
from services.processing.service_layer.commands import Worklist
from shared.events import Envelope, SupplementReceived

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Hà Nội
UNIT, OTHER_UNIT, PROCEDURE = "H26.01", "H26.02", "2.000488"
PORTAL = "contract-portal"


def processing_dossier(code: str, *, unit: str = UNIT, due_in_days: int = 10,
                       state: str = "received", **over: Any) -> ProcessingDossier:
    due = T0 + timedelta(days=due_in_days)
    d = ProcessingDossier(
        code=code, unit_code=unit, origin_unit=unit, procedure_code=PROCEDURE,
        channel="counter", return_method="counter", state=state,  # type: ignore[arg-type]
        received_at=T0, counted_from=T0, due_at=due, original_due_at=due,
        apology_deadline=due - timedelta(days=1), due_soon_at=due - timedelta(days=1),
        processing_days=10, rulebook="test", last_action_at=T0)
    return replace(d, **over)


def intake_dossier(code: str, **over: Any) -> IntakeDossier:
    d = IntakeDossier(
        code=code, unit_code=UNIT, current_unit=UNIT, procedure_code=PROCEDURE,
        channel="counter", return_method="counter", filed_at=T0, received_at=T0,
        counted_from=T0, due_at=T0 + timedelta(days=14), processing_days=10,
        status="received", status_at=T0,
        applicant={"kind": "citizen", "full_name": "Nguyễn Văn An", "id_number": "031203004567",
                   "phone": "0912345678", "address": "12 Lạch Tray"},
        applicant_masked={"kind": "citizen", "name": "Nguyễn V. A.",
                          "id_number": "*********567", "phone": "*******678"},
        pin_digest="digest", portal_id=PORTAL, request_hash="hash-" + code, rulebook="test",
        documents=[{"name": "Tờ khai", "copies": 1}], note="ghi chú")
    return replace(d, **over)


class ProcessingDossiersContract:
    async def test_added_once_then_read_back_equal(self, repos: Any) -> None:
        d = processing_dossier("C-1")
        assert await repos.dossiers.add(d) is True
        assert await repos.dossiers.add(replace(d, unit_code=OTHER_UNIT)) is False
        assert await repos.dossiers.get("C-1") == d
        assert await repos.dossiers.get("C-1", lock=True) == d
        assert await repos.dossiers.get("C-404") is None

    async def test_saved_many_at_once_keep_every_field(self, repos: Any) -> None:
        a, b = processing_dossier("N-1"), processing_dossier("N-2", unit=OTHER_UNIT)
        await repos.dossiers.add_many([a, b])
        a2 = replace(a, state="awaiting_payment", payment_amount=Decimal("125000.50"),
                     paused_seconds=0.1, apology_timely=True, assignee="can.bo.b",
                     stuck_check_at=T0 + timedelta(days=3, microseconds=7), version=4)
        b2 = replace(b, applicant_name="Trần Thị \"B\" \\ C", stuck_flagged_at=T0)
        await repos.dossiers.save_many([a2, b2])
        assert await repos.dossiers.get("N-1") == a2
        assert await repos.dossiers.get("N-2") == b2
        await repos.dossiers.save_many([])

    async def test_added_many_at_once_tells_which_were_new(self, repos: Any) -> None:
        await repos.dossiers.add(processing_dossier("M-1"))
        many = [processing_dossier(f"M-{n}", unit=OTHER_UNIT) for n in (3, 1, 2)]
        assert await repos.dossiers.add_many(many) == {"M-2", "M-3"}
        assert await repos.dossiers.get("M-3") == many[0]
        assert (await repos.dossiers.get("M-1")).unit_code == UNIT  # kept as it was
        assert await repos.dossiers.add_many([]) == set()

    async def test_save_keeps_every_field(self, repos: Any) -> None:
        d = processing_dossier("C-2")
        await repos.dossiers.add(d)
        changed = replace(d, state="processing", assignee="officer-1", supplement_count=2,
                          paused_seconds=3600.5, version=3, appointment_at=T0 + timedelta(days=20))
        await repos.dossiers.save(changed)
        assert await repos.dossiers.get("C-2") == changed

    async def test_worklist_filters_and_orders_by_due_date(self, repos: Any) -> None:
        for code, unit, days, state in (("W-1", UNIT, 5, "received"), ("W-2", UNIT, 2, "processing"),
                                        ("W-3", OTHER_UNIT, 1, "received"),
                                        ("W-4", UNIT, 2, "received")):
            await repos.dossiers.add(processing_dossier(code, unit=unit, due_in_days=days,
                                                        state=state))
        everyone = Worklist(None, None, None, None, None, 10, 0)
        assert [d.code for d in await repos.dossiers.worklist(everyone)] == \
            ["W-3", "W-2", "W-4", "W-1"]
        mine = replace(everyone, units=[UNIT], states=["received"])
        assert [d.code for d in await repos.dossiers.worklist(mine)] == ["W-4", "W-1"]
        window = replace(everyone, due_before=T0 + timedelta(days=3), offset=1, limit=1)
        assert [d.code for d in await repos.dossiers.worklist(window)] == ["W-2"]

    async def test_claim_for_watch_takes_what_is_due(self, repos: Any) -> None:
        await repos.dossiers.add(processing_dossier("D-1", due_in_days=1))
        await repos.dossiers.add(processing_dossier("D-2", due_in_days=9))
        await repos.dossiers.add(processing_dossier("D-3", due_in_days=1,
                                                    state="awaiting_supplement"))
        await repos.dossiers.add(processing_dossier(
            "D-4", due_in_days=1, due_soon_sent_at=T0, overdue_sent_at=T0))
        now = T0 + timedelta(days=2)
        claimed = await repos.dossiers.claim_for_watch(CLOCK_RUNNING, now, 10)
        assert [d.code for d in claimed] == ["D-1"]
        assert await repos.dossiers.past_apology_deadline(UNRESOLVED, now) == {UNIT: 3}

    async def test_claim_for_stuck_takes_the_checks_due(self, repos: Any) -> None:
        now = T0 + timedelta(days=2)
        await repos.dossiers.add(processing_dossier("S-1", stuck_check_at=now))  # due now
        await repos.dossiers.add(processing_dossier("S-2"))  # never checked: first
        await repos.dossiers.add(processing_dossier("S-3", stuck_check_at=now + timedelta(1)))
        await repos.dossiers.add(processing_dossier("S-4", state="awaiting_supplement"))
        await repos.dossiers.add(processing_dossier("S-5", stuck_flagged_at=T0, unit=OTHER_UNIT))
        await repos.dossiers.add(processing_dossier("S-6", stuck_flagged_at=T0, state="resolved"))
        claimed = await repos.dossiers.claim_for_stuck(CLOCK_RUNNING, now, 10)
        assert [d.code for d in claimed] == ["S-2", "S-1"]
        assert [d.code for d in await repos.dossiers.claim_for_stuck(CLOCK_RUNNING, now, 1)] \
            == ["S-2"]
        assert await repos.dossiers.stuck_counts(CLOCK_RUNNING) == {OTHER_UNIT: 1}
        assert [d.code for d in await repos.dossiers.stuck(CLOCK_RUNNING, [OTHER_UNIT], 10)] \
            == ["S-5"]
        assert await repos.dossiers.stuck(CLOCK_RUNNING, [UNIT], 10) == []


class HopsContract:
    async def test_hops_in_time_order_and_keys_remembered(self, repos: Any) -> None:
        await repos.dossiers.add(processing_dossier("H-1"))
        later = NewHop("H-1", "accept", UNIT, "officer-1", T0 + timedelta(hours=2), T0,
                       {"note": "x"}, "key-1", "fp-1")
        await repos.hops.add(later)
        await repos.hops.add(NewHop("H-1", "received", UNIT, "intake", T0, T0,
                                    {"channel": "counter"}))
        assert [h.step for h in await repos.hops.of("H-1")] == ["received", "accept"]
        assert (await repos.hops.of("H-1"))[1].detail == {"note": "x"}
        assert await repos.hops.first_request("H-1", "key-1") == "fp-1"
        assert await repos.hops.first_request("H-1", "key-2") is None
        assert await repos.hops.of("H-404") == []

    async def test_hops_added_together_keep_their_order(self, repos: Any) -> None:
        await repos.dossiers.add(processing_dossier("H-2"))
        await repos.dossiers.add(processing_dossier("H-3"))
        steps = [NewHop(code, step, UNIT, "intake", T0, T0, {"n": n})
                 for n, (code, step) in enumerate([("H-2", "a"), ("H-3", "b"), ("H-2", "c"),
                                                   ("H-2", "d")])]
        await repos.hops.add_many(steps)
        assert [(h.step, h.detail) for h in await repos.hops.of("H-2")] == [
            ("a", {"n": 0}), ("c", {"n": 2}), ("d", {"n": 3})]  # same time: in the given order
        await repos.hops.add_many([])
        assert len(await repos.hops.of("H-3")) == 1


class IntakeDossiersContract:
    async def test_added_read_back_and_saved(self, repos: Any) -> None:
        d = intake_dossier("I-1", idempotency_key="k-1", external_ref="ref-1")
        await repos.dossiers.add(d)
        assert await repos.dossiers.get("I-1", lock=True) == d
        moved = replace(d, status="awaiting_supplement", status_at=T0 + timedelta(hours=1),
                        supplement_requested_at=T0 + timedelta(hours=1), current_unit=OTHER_UNIT)
        await repos.dossiers.save(moved)
        assert await repos.dossiers.get("I-1") == moved
        assert await repos.dossiers.get("I-404") is None

    async def test_found_by_key_then_by_reference(self, repos: Any) -> None:
        await repos.dossiers.add(intake_dossier("I-2", idempotency_key="k-2"))
        await repos.dossiers.add(intake_dossier("I-3", external_ref="ref-3"))
        assert (await repos.dossiers.find_filed(PORTAL, "k-2", "ref-3")).code == "I-2"
        assert (await repos.dossiers.find_filed(PORTAL, "k-404", "ref-3")).code == "I-3"
        assert await repos.dossiers.find_filed(PORTAL, None, None) is None
        assert await repos.dossiers.find_filed("another-portal", "k-2", "ref-3") is None

    async def test_a_second_filing_under_the_same_key_is_refused(self, repos: Any) -> None:
        from services.intake.adapters.repository import DuplicateFiling

        await repos.dossiers.add(intake_dossier("I-4", idempotency_key="k-4"))
        with pytest.raises(DuplicateFiling):
            await repos.dossiers.add(intake_dossier("I-5", idempotency_key="k-4"))

    async def test_sequences_count_per_unit_and_day(self, repos: Any) -> None:
        day = date(2026, 11, 2)
        assert [await repos.dossiers.next_sequence(UNIT, day) for _ in range(3)] == [1, 2, 3]
        assert await repos.dossiers.next_sequence(OTHER_UNIT, day) == 1
        assert await repos.dossiers.next_sequence(UNIT, day + timedelta(days=1)) == 1


class TimelineContract:
    async def test_latest_entries_in_time_order_once_each(self, repos: Any) -> None:
        await repos.dossiers.add(intake_dossier("T-1"))
        envelopes = [Envelope(source="intake", data=SupplementReceived(
            dossier_code="T-1", received_at=T0 + timedelta(hours=h))) for h in (3, 1, 2)]
        for env in envelopes:
            await repos.timeline.record(env, env.data.received_at, {"h": 1})
        await repos.timeline.record(envelopes[0], T0, {"again": True})  # the same event
        entries, total = await repos.timeline.latest("T-1", 2)
        assert total == 3
        assert [e["at"] for e in entries] == [T0 + timedelta(hours=2), T0 + timedelta(hours=3)]
        assert entries[-1]["detail"] == {"h": 1} and entries[-1]["source"] == "intake"


class RequestKeysContract:
    async def test_a_key_remembers_its_first_request(self, repos: Any) -> None:
        await repos.dossiers.add(intake_dossier("K-1"))
        assert await repos.request_keys.first_request(PORTAL, "key") is None
        await repos.request_keys.remember(PORTAL, "key", "withdraw", "K-1", "fp")
        assert await repos.request_keys.first_request(PORTAL, "key") == "fp"
        assert await repos.request_keys.first_request("another-portal", "key") is None


class ShipmentsContract:
    async def test_opened_once_saved_and_listed(self, repos: Any) -> None:
        s, _ = Shipment.open("P-1", "outbound", UNIT, T0)
        assert await repos.shipments.add(s) is True
        assert await repos.shipments.add(s) is False
        s.apply("picked_up", T0 + timedelta(hours=1), reason=None, max_attempts=2)
        await repos.shipments.save(s)
        got = await repos.shipments.get(s.id, lock=True)
        assert got is not None and got.status == "picked_up" and got.version == s.version
        inbound, _ = Shipment.open("P-1", "inbound", UNIT, T0 - timedelta(days=1))
        await repos.shipments.add(inbound)
        assert [x.id for x in await repos.shipments.of_dossier("P-1")] == [inbound.id, s.id]
        assert await repos.shipments.get("OUT-404") is None

    async def test_unplaced_are_those_opened_at_no_unit(self, repos: Any) -> None:
        nowhere, _ = Shipment.open("P-3", "outbound", "", T0)
        placed, _ = Shipment.open("P-3", "inbound", UNIT, T0)
        other, _ = Shipment.open("P-4", "outbound", "", T0)
        for s in (nowhere, placed, other):
            await repos.shipments.add(s)
        assert sorted(x.id for x in await repos.shipments.unplaced(["P-3", "P-4", "P-5"])) \
            == sorted([nowhere.id, other.id])
        assert await repos.shipments.unplaced([]) == []


class CouriersContract:
    async def test_signatures_and_event_ids_once(self, repos: Any) -> None:
        s, _ = Shipment.open("P-2", "inbound", UNIT, T0)
        await repos.shipments.add(s)
        assert await repos.couriers.first_signature("vnpost", "sig", 1) is True
        assert await repos.couriers.first_signature("vnpost", "sig", 1) is False
        # A signature covers its timestamp: sent again under another one, still a replay.
        assert await repos.couriers.first_signature("vnpost", "sig", 2) is False
        assert await repos.couriers.first_signature("ghn", "sig", 1) is True
        assert await repos.couriers.seen("vnpost", "e-1") is False
        await repos.couriers.record("vnpost", "e-1", s.id, "picked_up", T0)
        assert await repos.couriers.seen("vnpost", "e-1") is True
        assert await repos.couriers.seen("other", "e-1") is False


class UnitsContract:
    async def test_filed_unit_kept_moved_unit_replaces(self, repos: Any) -> None:
        await repos.units.place("U-1", OTHER_UNIT, moved=True)  # a transfer heard first
        await repos.units.place("U-1", UNIT, moved=False)  # then the filing
        assert await repos.units.unit_of("U-1") == OTHER_UNIT
        await repos.units.place("U-2", UNIT, moved=False)
        assert await repos.units.unit_of("U-2") == UNIT
        assert await repos.units.unit_of("U-404") is None

    async def test_many_placed_at_once_keep_a_known_unit(self, repos: Any) -> None:
        await repos.units.place("V-1", OTHER_UNIT, moved=True)  # a transfer heard first
        assert await repos.units.place_many({"V-2": UNIT, "V-1": UNIT}) == {
            "V-1": OTHER_UNIT, "V-2": UNIT}
        assert await repos.units.unit_of("V-2") == UNIT
        assert await repos.units.place_many({}) == {}


class RatedDossiersContract:
    async def test_saved_read_back_with_whether_rated(self, repos: Any) -> None:
        d = RatedDossier("R-1", UNIT, "resolved", T0)
        await repos.dossiers.save(d)
        assert await repos.dossiers.get("R-1") == d
        await repos.dossiers.save(replace(d, unit_code=OTHER_UNIT))
        await repos.ratings.add("R-1", OTHER_UNIT, "satisfied", {"stars": 4}, None, T0)
        got = await repos.dossiers.get("R-1", lock=True)
        assert got == RatedDossier("R-1", OTHER_UNIT, "resolved", T0, rated=True)
        row = await repos.ratings.of("R-1")
        assert row is not None and row["rating"] == "satisfied" and row["criteria"] == {"stars": 4}
        assert await repos.dossiers.get("R-404") is None and await repos.ratings.of("R-404") is None


    async def test_many_read_and_written_at_once(self, repos: Any) -> None:
        a, b = RatedDossier("R-1", UNIT), RatedDossier("R-2", OTHER_UNIT, "rejected", T0)
        await repos.dossiers.save(a, b)
        await repos.ratings.add("R-2", OTHER_UNIT, "satisfied", None, None, T0)
        assert await repos.dossiers.get_many(["R-2", "R-404", "R-1"], lock=True) == {
            "R-1": a, "R-2": replace(b, rated=True)}
        await repos.dossiers.save(replace(a, finished="resolved", finished_at=T0))
        assert (await repos.dossiers.get_many(["R-1"]))["R-1"].finished == "resolved"
        assert await repos.dossiers.get_many([]) == {}


class GuessesContract:
    async def test_recent_failures_by_dossier_and_by_source(self, repos: Any) -> None:
        await repos.guesses.take_turn("G-1")
        for code, source, minutes in (("G-1", "10.0.0.1", 1), ("G-1", "10.0.0.2", 2),
                                      ("G-2", "10.0.0.1", 3), ("G-1", "10.0.0.1", -30)):
            await repos.guesses.record_failure(code, source, T0 + timedelta(minutes=minutes))
        by_dossier, by_source = await repos.guesses.recent_failures("G-1", "10.0.0.1", T0)
        assert by_dossier == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
        assert by_source == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)]
