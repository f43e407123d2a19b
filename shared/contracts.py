"""The published contracts, generated from the code so they cannot drift:

* ``deploy/contracts/asyncapi.json`` — AsyncAPI 3.0 for every topic and event type, with the
  CloudEvents headers and each payload's JSON Schema from its pydantic model;
* ``deploy/contracts/openapi/<service>.json`` — each service's OpenAPI document.

``python -m shared.contracts`` (``make contracts``) writes them; a test fails when the
committed files differ from what the models and routes generate.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.events import (
    ALL_DOSSIER_TOPICS,
    EVENT_MODELS,
    SCHEMA_VERSION,
    ComplaintEvent,
    EventData,
    PostalResultReturned,
    dlq_topic,
)

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "deploy" / "contracts"
SERVICES = ("intake", "processing", "postal", "feedback", "metrics", "national_portal")
PRODUCER = {"intake.dossier-events.v1": "intake", "processing.dossier-events.v1": "processing",
            "postal.shipment-events.v1": "postal", "feedback.rating-events.v1": "feedback",
            "national-portal.sync-events.v1": "national_portal",
            "feedback.complaint-events.v1": "feedback"}
CONSUMERS = {
    "intake.dossier-events.v1": ["processing", "postal", "feedback", "metrics",
                                 "national_portal"],
    "processing.dossier-events.v1": ["intake", "postal", "feedback", "metrics",
                                     "national_portal"],
    "postal.shipment-events.v1": ["intake", "processing", "feedback", "metrics",
                                  "national_portal"],
    "feedback.rating-events.v1": ["metrics"],
    "national-portal.sync-events.v1": ["metrics"],
    "feedback.complaint-events.v1": ["metrics"],
}

CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "ce_subject",
                 "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "unique forever"},
        "ce_type": {"type": "string"},
        "ce_source": {"type": "string", "description": "the producing service"},
        "ce_time": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"},
        "ce_subject": {"type": "string", "description": "the dossier code, or a complaint's "
                       "code on the complaints topic (also the key)"},
        "ce_schemaversion": {"type": "string", "description": "major.minor of the payload; "
                             "consumers refuse an unknown major version"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _message_name(model: type[EventData]) -> str:
    return model.event_type.replace(".", "_")


def _models_by_topic() -> dict[str, list[type[EventData]]]:
    out: dict[str, list[type[EventData]]] = {t: [] for t in ALL_DOSSIER_TOPICS}
    every: tuple[type[EventData], ...] = (*EVENT_MODELS, PostalResultReturned)
    for model in every:
        out[model.topic].append(model)
    return out


def asyncapi() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, models in _models_by_topic().items():
        key = topic.replace(".", "_").replace("-", "_")
        refs = {}
        for model in models:
            name = _message_name(model)
            refs[name] = {"$ref": f"#/components/messages/{name}"}
            if name in messages:
                continue
            messages[name] = {
                "name": model.event_type,
                "title": model.event_type,
                "summary": (model.__doc__ or model.event_type).strip().splitlines()[0],
                "contentType": "application/json",
                "headers": CLOUDEVENT_HEADERS,
                "payload": model.model_json_schema(mode="serialization"),
                "bindings": {"kafka": {"key": {"type": "string", "description": (
                    "complaint_code" if issubclass(model, ComplaintEvent) else "dossier_code")}}},
            }
        channels[key] = {"address": topic, "messages": refs,
                         "description": f"produced by {PRODUCER[topic]}; consumed by "
                                        f"{', '.join(CONSUMERS[topic])}; poison messages go to "
                                        f"{dlq_topic(topic)}"}
        operations[f"publish_{key}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{PRODUCER[topic]} publishes through its transactional outbox",
            "messages": [{"$ref": f"#/channels/{key}/messages/{n}"} for n in refs]}
        operations[f"consume_{key}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"consumed (once in effect, via each consumer's inbox) by "
                       f"{', '.join(CONSUMERS[topic])}",
            "messages": [{"$ref": f"#/channels/{key}/messages/{n}"} for n in refs]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Một cửa dossier events", "version": SCHEMA_VERSION,
                 "description": "CloudEvents 1.0 in Kafka binary mode: attributes in ce_* "
                                "headers, the JSON data as the value, keyed by dossier code."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def openapi(service: str) -> dict[str, Any]:
    module = importlib.import_module(f"services.{service}.app")
    app = module.create_app()
    document: dict[str, Any] = app.openapi()
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    files = {CONTRACTS / "asyncapi.json": render(asyncapi())}
    for service in SERVICES:
        files[CONTRACTS / "openapi" / f"{service}.json"] = render(openapi(service))
    return files


def main() -> None:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
