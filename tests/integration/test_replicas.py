"""Scaling out: a second replica of processing and of metrics joins each consumer group on the
same broker and database; the partitions are shared between the replicas without overlap,
and every event is handled exactly once across them."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.events import INTAKE_TOPIC
from tests.support.api import ROOT_DIR, Api
from tests.support.children import stop_child

pytestmark = pytest.mark.integration
SECOND = {"processing": 18295, "metrics": 18296}
CONSUMER = {"processing": "processing-workflow", "metrics": "metrics-facts"}


def start(api: Api, service: str) -> subprocess.Popen[bytes]:
    up = service.upper()
    env = dict(api.stack.env, **{f"{up}_PORT": str(SECOND[service])})
    with open(api.stack.run_dir / f"{service}-replica.log", "ab") as log:  # the child's copy
        return subprocess.Popen([sys.executable, "-m", f"services.{service}.main"], env=env,
                                cwd=ROOT_DIR, stdout=log, stderr=log)


async def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url + "/metrics")).text
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text)
            for s in f.samples]


async def assignments(urls: list[str], consumer: str, topic: str) -> list[set[int]]:
    out = []
    for url in urls:
        held = {int(labels["partition"]) for name, labels, value in await scrape(url)
                if name == "motcua_consumer_partition_assigned" and value == 1
                and labels["consumer"] == consumer and labels["topic"] == topic}
        out.append(held)
    return out


async def consumed(urls: list[str], consumer: str, topic: str) -> list[float]:
    totals = []
    for url in urls:
        totals.append(sum(value for name, labels, value in await scrape(url)
                          if name == "motcua_events_consumed_total"
                          and labels["consumer"] == consumer and labels["topic"] == topic))
    return totals


async def duplicates(urls: list[str]) -> float:
    total = 0.0
    for url in urls:
        total += sum(value for name, _l, value in await scrape(url)
                     if name == "motcua_events_duplicate_total")
    return total


async def test_two_replicas_share_partitions_and_handle_each_event_once(api: Api) -> None:
    topic = api.stack.topic_prefix + INTAKE_TOPIC
    procs = {s: start(api, s) for s in SECOND}
    urls = {s: [api.stack.url(s), f"http://127.0.0.1:{port}"] for s, port in SECOND.items()}
    try:
        # Both replicas of each service hold a disjoint share of the six partitions.
        async with asyncio.timeout(90):
            while True:
                try:
                    shares = {s: await assignments(urls[s], CONSUMER[s], topic) for s in SECOND}
                except httpx.HTTPError:
                    shares = {}
                if shares and all(all(share) and not (share[0] & share[1])
                                  and share[0] | share[1] == set(range(6))
                                  for share in shares.values()):
                    break
                await asyncio.sleep(0.5)

        before = {s: await consumed(urls[s], CONSUMER[s], topic) for s in SECOND}
        dup_before = {s: await duplicates(urls[s]) for s in SECOND}
        codes = []
        for _ in range(40):
            r = await api.file(unit_code="H26.104", procedure_code="1.004873")
            assert r.status_code == 201
            codes.append(r.json()["code"])

        async def all_seen() -> dict[str, list[float]] | None:
            now = {s: await consumed(urls[s], CONSUMER[s], topic) for s in SECOND}
            deltas = {s: [a - b for a, b in zip(now[s], before[s], strict=True)] for s in SECOND}
            return deltas if all(sum(d) >= len(codes) for d in deltas.values()) else None

        async with asyncio.timeout(60):
            while (deltas := await all_seen()) is None:
                await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # anything handled twice would show up by now
        deltas = await all_seen()
        assert deltas is not None
        for service, per_replica in deltas.items():
            assert sum(per_replica) == len(codes), (service, per_replica)  # once each, in total
            assert all(d > 0 for d in per_replica), (service, per_replica)  # work was shared
            assert await duplicates(urls[service]) == dup_before[service]

        # And the effects exist once: one workflow row and one received hop per dossier.
        db = await api.db()
        rows = await db.fetch(
            """SELECT d.code, count(h.id) AS hops FROM processing.dossiers d
               JOIN processing.hops h ON h.dossier_code = d.code AND h.step = 'received'
               WHERE d.code = ANY($1::text[]) GROUP BY d.code""", codes)
        assert {r["code"]: r["hops"] for r in rows} == dict.fromkeys(codes, 1)
        facts = await db.fetchval("SELECT count(*) FROM metrics.facts WHERE dossier_code = "
                                  "ANY($1::text[])", codes)
        assert facts == len(codes)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            stop_child(proc)

