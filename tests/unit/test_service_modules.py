"""``nameko run services.<name>.service`` (deploy, scripts/demo.sh, the chaos stack) runs
every class with entrypoints found in the module: each service module must hold exactly
its one service (entrypoint mixins are imported by module, never by name)."""

import pytest
from nameko.cli.utils.import_services import import_services

SERVICES = {
    "alerts": "AlertsService",
    "cases": "CasesService",
    "profiles": "ProfilesService",
    "notify": "NotifyService",
    "gateway": "GatewayService",
    "ingest": None,
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_nameko_run_finds_one_service_in_each_service_module(name):
    found = import_services(f"services.{name}.service")
    assert len(found) == 1, [cls.__name__ for cls in found]
    if SERVICES[name]:
        assert found[0].__name__ == SERVICES[name]
