"""The Kubernetes manifests under deploy/k8s: every service deployed with probes, resources and
a locked-down security context, secrets only by reference, settings that the code reads."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.feedback.settings import Settings as FeedbackSettings
from services.intake.settings import Settings as IntakeSettings
from services.metrics.settings import Settings as MetricsSettings
from services.national_portal.settings import Settings as NationalPortalSettings
from services.postal.settings import Settings as PostalSettings
from services.processing.settings import Settings as ProcessingSettings
from shared.settings import ServiceSettings
from tests.deploy.common import DEPLOY, SERVICES, run, service_command, tool

K8S = DEPLOY / "k8s"
REPLICAS = {"intake": 3, "processing": 2, "postal": 2, "feedback": 2, "metrics": 2,
            "national_portal": 2}
SECRET_NAME = "motcua-secrets"
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|PEPPER|KEY|DATABASE_URL|TOKEN", re.IGNORECASE)
# Settings that fall back to a well-known local default when unset: a service that needs one
# and does not get it from the Secret would run with the default, so each must be wired.
REQUIRED_SECRET_ENV = {
    "intake": {"MOTCUA_DATABASE_URL", "MOTCUA_PIN_PEPPER"},
    "processing": {"MOTCUA_DATABASE_URL"},
    "postal": {"MOTCUA_DATABASE_URL", "POSTAL_COURIER_SECRETS"},
    "feedback": {"MOTCUA_DATABASE_URL", "MOTCUA_PIN_PEPPER"},
    "metrics": {"MOTCUA_DATABASE_URL"},
    "national_portal": {"MOTCUA_DATABASE_URL", "NATIONAL_PORTAL_PORTAL_PASSWORD",
                        "NATIONAL_PORTAL_INTAKE_KEY"},
}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings, "processing": ProcessingSettings, "postal": PostalSettings,
    "feedback": FeedbackSettings, "metrics": MetricsSettings,
    "national_portal": NationalPortalSettings,
}


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def load_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path, doc))
    return docs


DOCS = load_documents()


def objects(kind: str) -> dict[str, dict[str, Any]]:
    """By name; a Kubernetes name cannot hold "_", so national-portal is national_portal."""
    found = {d["metadata"]["name"]: d for _, d in DOCS if d.get("kind") == kind}
    return found | {name.replace("-", "_"): d for name, d in found.items()}


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for _, doc in DOCS:
        if doc.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]
        elif doc.get("kind") == "CronJob":
            yield f"CronJob/{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]


def containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    found = deployment["spec"]["template"]["spec"]["containers"]
    assert len(found) == 1, f"{deployment['metadata']['name']}: one container expected"
    container: dict[str, Any] = found[0]
    return container


def test_manifests_parse_and_name_their_kind() -> None:
    assert manifest_files(), "no manifests under deploy/k8s"
    for path, doc in DOCS:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), f"{path.name}: {doc}"
        assert doc["metadata"].get("name"), f"{path.name}: {doc['kind']} without a name"


def test_every_service_has_a_deployment_and_a_service() -> None:
    deployments, services = objects("Deployment"), objects("Service")
    for name in SERVICES:
        assert name in deployments, f"no Deployment {name}"
        assert name in services, f"no Service {name}"


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_runs_its_service(name: str) -> None:
    deployment = objects("Deployment")[name]
    assert deployment["spec"]["replicas"] == REPLICAS[name]
    container = only_container(deployment)
    assert container["command"] == service_command(name)
    assert importlib.util.find_spec(f"services.{name}.main") is not None
    assert [p["containerPort"] for p in container["ports"]] == [8000]
    # The selector must select the pods the template makes.
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


@pytest.mark.parametrize("name", SERVICES)
def test_probes_point_at_readyz_and_healthz_on_the_container_port(name: str) -> None:
    container = only_container(objects("Deployment")[name])
    ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
    for probe_name, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        probe = container.get(probe_name)
        assert probe, f"{name}: no {probe_name}"
        assert probe["httpGet"]["path"] == path, f"{name}: {probe_name}"
        port = probe["httpGet"]["port"]
        assert ports.get(port, port) == 8000, f"{name}: {probe_name} port {port}"


@pytest.mark.parametrize("where,template", [pytest.param(w, t, id=w) for w, t in pod_templates()])
def test_containers_have_resources_and_a_locked_down_security_context(
        where: str, template: dict[str, Any]) -> None:
    pod_security = template["spec"].get("securityContext", {})
    assert template["spec"].get("automountServiceAccountToken") is False, where
    for container in containers(template):
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(section, {})), \
                f"{where}/{container['name']}: resources.{section} needs cpu and memory"
        security = {**pod_security, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True, where
        assert security.get("runAsUser", 10001) != 0, where
        assert security.get("readOnlyRootFilesystem") is True, where
        assert security.get("allowPrivilegeEscalation") is False, where
        assert "ALL" in security.get("capabilities", {}).get("drop", []), where
        # A read-only root filesystem still needs a writable /tmp.
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{where}/{container['name']}: no writable /tmp"


def test_no_secret_object_is_committed() -> None:
    for path, doc in DOCS:
        assert doc.get("kind") != "Secret", f"{path.name} commits a Secret"
    for path in K8S.rglob("*"):
        if path.is_file():
            assert "kind: Secret" not in path.read_text(encoding="utf-8"), path


def test_secret_like_settings_come_from_the_secret_only() -> None:
    for where, template in pod_templates():
        for container in containers(template):
            for env in container.get("env", []):
                if SECRET_LIKE.search(env["name"]):
                    assert "value" not in env, f"{where}: {env['name']} has a literal value"
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    assert ref and ref["name"] == SECRET_NAME, f"{where}: {env['name']}"
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == SECRET_NAME, where
    # The ConfigMap may name a secret-like setting only to switch it off (INTAKE_PORTAL_KEYS="").
    for name, config in objects("ConfigMap").items():
        for key, value in (config.get("data") or {}).items():
            if SECRET_LIKE.search(key):
                assert value == "", f"ConfigMap {name}: {key} must not carry a secret"


def secret_env_names(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", [])
            if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == SECRET_NAME}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_gets_the_secrets_it_needs(name: str) -> None:
    container = only_container(objects("Deployment")[name])
    missing = REQUIRED_SECRET_ENV[name] - secret_env_names(container)
    assert not missing, f"{name} would run with the local default of {sorted(missing)}"


def test_the_configmap_names_only_settings_the_code_reads() -> None:
    config = objects("ConfigMap")["motcua-config"]
    for key in config["data"]:
        prefix, _, field = key.partition("_")
        field = field.lower()
        if prefix == "MOTCUA":
            known = any(field in s.model_fields for s in SETTINGS.values())
        else:
            settings = SETTINGS.get(prefix.lower())
            known = settings is not None and field in settings.model_fields
        assert known, f"ConfigMap key {key} is not a setting of any service"
    # The services must listen where the probes and the Services look.
    assert config["data"]["MOTCUA_PORT"] == "8000"
    assert config["data"]["MOTCUA_HOST"] == "0.0.0.0"
    assert config["data"].get("INTAKE_PORTAL_KEYS", "") == "", "no demo portal keys in production"
    assert config["data"].get("FEEDBACK_PORTAL_KEYS", "") == "", "nor for complaints"
    assert config["data"]["MOTCUA_OIDC_ISSUER"].startswith("https://"), "the identity provider"
    assert "MOTCUA_JWT_SECRET" not in config["data"], "no HS256 secret in production"
    for name in SERVICES:
        refs = [s["configMapRef"]["name"] for s in only_container(objects("Deployment")[name])
                .get("envFrom", []) if "configMapRef" in s]
        assert refs == ["motcua-config"], name


@pytest.mark.parametrize("name", SERVICES)
def test_service_exposes_port_80_to_the_pods_and_is_scraped(name: str) -> None:
    service, deployment = objects("Service")[name], objects("Deployment")[name]
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    container_ports = {p.get("name"): p["containerPort"] for p in only_container(deployment)["ports"]}
    assert container_ports.get(port["targetPort"], port["targetPort"]) == 8000
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items(), "the Service selects no pod"
    annotations = service["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/port") == "8000"
    assert annotations.get("prometheus.io/path") == "/metrics"


def test_autoscalers_for_intake_and_metrics() -> None:
    hpas = objects("HorizontalPodAutoscaler")
    deployments = objects("Deployment")
    assert {"intake", "metrics"} <= set(hpas)
    for name, hpa in hpas.items():
        (path, doc) = next((p, d) for p, d in DOCS if d is hpa)
        assert doc["apiVersion"] == "autoscaling/v2", path.name
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert hpa["spec"]["minReplicas"] <= deployments[target["name"]]["spec"]["replicas"] \
            <= hpa["spec"]["maxReplicas"]
        cpu = [m["resource"]["target"] for m in hpa["spec"]["metrics"]
               if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
        assert cpu == [{"type": "Utilization", "averageUtilization": 70}], name


def test_a_job_runs_the_metrics_rebuild() -> None:
    jobs = objects("Job")
    assert "metrics-rebuild" in jobs
    job = jobs["metrics-rebuild"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.metrics.rebuild"]
    assert importlib.util.find_spec("services.metrics.rebuild") is not None
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert REQUIRED_SECRET_ENV["metrics"] <= secret_env_names(container)


def test_kustomization_lists_every_manifest_and_the_namespace() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == {p.name for p in manifest_files()}
    assert kustomization["namespace"] == "motcua"
    assert objects("Namespace").keys() == {"motcua"}
    for path, doc in DOCS:
        assert doc["metadata"].get("namespace", "motcua") == "motcua", path.name


def test_images_are_the_one_built_from_the_dockerfile() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    image_names = {i["name"] for i in kustomization.get("images", [])}
    for where, template in pod_templates():
        for container in containers(template):
            assert container["image"].split(":")[0] in image_names, where


@pytest.mark.skipif(tool("kubectl") is None, reason="kubectl is not installed (kustomize build check)")
def test_kustomize_builds_the_manifests() -> None:
    result = run(["kubectl", "kustomize", str(K8S)])
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(rendered) == len(DOCS)
    assert all(d["metadata"].get("namespace") == "motcua" for d in rendered if d["kind"] != "Namespace")


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (schema check)")
    for _, doc in DOCS:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)

