"""The published contracts match the code: the AsyncAPI document and the event models, the
OpenAPI files and the routes. Regenerate with `make contracts` after changing either."""

from __future__ import annotations

import json

import pytest

from shared import events as ev
from shared.contracts import CONTRACTS, SERVICES, expected_files


def test_committed_contracts_are_what_the_code_generates() -> None:
    stale = [str(path.relative_to(CONTRACTS)) for path, text in expected_files().items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    assert stale == [], f"run `make contracts`: {stale}"


def test_every_event_model_is_a_message_on_its_topic() -> None:
    doc = json.loads((CONTRACTS / "asyncapi.json").read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    by_address = {c["address"]: c for c in doc["channels"].values()}
    assert set(by_address) == set(ev.ALL_DOSSIER_TOPICS)
    models: tuple[type[ev.EventData], ...] = (*ev.EVENT_MODELS, ev.PostalResultReturned)
    for model in models:
        name = model.event_type.replace(".", "_")
        assert name in by_address[model.topic]["messages"], (model.event_type, model.topic)
        message = doc["components"]["messages"][name]
        same: type[ev.EventData] = ev.ResultReturned if model is ev.PostalResultReturned \
            else model  # one message
        assert message["payload"] == same.model_json_schema(mode="serialization")
        assert "ce_id" in message["headers"]["required"]
    # Both publishers of dossier.result_returned are documented.
    assert "dossier_result_returned" in by_address[ev.POSTAL_TOPIC]["messages"]
    assert "dossier_result_returned" in by_address[ev.PROCESSING_TOPIC]["messages"]


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_documents_every_error_as_problem_details_paths(service: str) -> None:
    doc = json.loads((CONTRACTS / "openapi" / f"{service}.json").read_text(encoding="utf-8"))
    assert {"/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    assert doc["info"]["title"].endswith(service)
