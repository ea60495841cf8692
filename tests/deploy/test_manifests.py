"""deploy/ is validated, not run (no container engine here): schemas + cross-checks."""

import importlib
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import services.alerts  # noqa: F401  (each service package declares its settings)
import services.cases  # noqa: F401
import services.gateway  # noqa: F401
import services.ingest  # noqa: F401
import services.notify  # noqa: F401
import services.profiles  # noqa: F401
from services.common.settings import DEFAULTS, SHARED

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.37.0"
SERVICES = ("alerts", "cases", "profiles", "notify", "ingest", "gateway")


def k8s_documents():
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def test_compose_file_matches_the_compose_spec():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name, doc", list(k8s_documents()), ids=lambda v: v if isinstance(v, str) else "")
def test_kubernetes_manifests_are_valid(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_service_runs_somewhere_with_two_replicas_and_real_modules():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    deployments = {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == "Deployment"}
    for service in SERVICES:
        module = f"services.{service}.service"
        importlib.import_module(module)
        assert compose["services"][service]["command"] == [module]
        assert deployments[service]["spec"]["replicas"] >= 2
        assert deployments[service]["spec"]["template"]["spec"]["containers"][0]["args"] == [module]


def test_three_member_replica_set_and_three_node_broker():
    stateful = {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == "StatefulSet"}
    assert stateful["mongo"]["spec"]["replicas"] == 3
    assert stateful["rabbitmq"]["spec"]["replicas"] == 3
    env = {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == "ConfigMap"}["cx-env"]
    uri = env["data"]["MONGO_URI"]
    assert "replicaSet=rs0" in uri and "w=majority" in uri and uri.count("mongo-") == 3


def test_configured_variables_are_ones_the_services_read():
    config_keys = set(yaml.safe_load((DEPLOY / "config.yaml").read_text()))
    env = {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] in ("ConfigMap", "Secret")}
    k8s_keys = set(env["cx-env"]["data"]) | {"AMQP_URI", "SMTP_USER", "SMTP_PASSWORD"}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose_keys = set(compose["x-service"]["environment"])
    known = set(DEFAULTS) | {"MAX_WORKERS"}
    assert set(SHARED) < known  # the services' own keys are declared beside them
    assert k8s_keys <= known, k8s_keys - known
    assert compose_keys <= known, compose_keys - known
    assert known - {"MAX_WORKERS"} <= config_keys


def test_dockerfile_copies_what_exists():
    root = DEPLOY.parent
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source


def test_the_broker_refuses_oversize_messages_in_every_deployment():
    def setting(text: str) -> int:
        lines = [line for line in text.splitlines() if line.strip().startswith("max_message_size")]
        values = [int(line.partition("=")[2]) for line in lines]
        assert len(values) == 1, text
        return values[0]

    compose_conf = setting((DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text())
    k8s = {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == "ConfigMap"}
    k8s_conf = setting(k8s["rabbitmq-config"]["data"]["rabbitmq.conf"])
    assert compose_conf == k8s_conf
    # above what the services accept (they dead-letter with a reason), near it (docs/security.md)
    event_limit = DEFAULTS["EVENT_MAX_BYTES"]
    assert DEFAULTS["FEEDBACK_MAX_BYTES"] <= event_limit < compose_conf <= 4 * event_limit
