"""The sample people directory with the test stack's admin (``root``) reachable by email,
saved over the API and followed by notify (the template editor's test sends go there)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import wait_until

SAMPLE = (Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8")
ROOT_EMAIL = "root@example.com"


def save_directory_with_root(gateway) -> None:
    directory = yaml.safe_load(SAMPLE.replace("- id: admin\n", "- id: root\n", 1))
    [root] = [p for p in directory["people"] if p["id"] == "root"]
    root["channels"] = {"email": ROOT_EMAIL}
    saved = gateway.api("admin", "PUT", "/api/v1/people", json=directory)
    assert saved.status_code == 200, saved.text
    wait_until(lambda: gateway.rpc.notify.people_revision() == saved.json()["revision"], message="notify")
