"""Settings: shared keys in services/common/settings.py, each service's own keys in its
settings.py, one loader that refuses a key nobody declared."""

import pytest
from nameko import config

import services.cases  # noqa: F401  (declares the cases keys)
from services.common import settings


def test_a_service_key_is_declared_by_its_package_not_by_the_shared_module():
    assert "CASE_OPEN_KEY" in settings.DEFAULTS and "CASE_OPEN_KEY" not in settings.SHARED
    assert settings.get("CASE_REOPEN_WINDOW_HOURS") == 72.0


def test_an_undeclared_key_is_refused():
    with pytest.raises(KeyError, match="NO_SUCH_SETTING"):
        settings.get("NO_SUCH_SETTING")


def test_a_key_declared_twice_with_another_default_is_refused():
    settings.declare({"CASE_OPEN_KEY": "rule"})  # the same default: harmless
    with pytest.raises(ValueError, match="CASE_OPEN_KEY"):
        settings.declare({"CASE_OPEN_KEY": "touchpoint"})


def test_values_from_the_config_keep_the_defaults_type():
    with config.patch({"CASE_REOPEN_WINDOW_HOURS": "12", "GATEWAY_COOKIE_SECURE": "yes"}):
        import services.gateway  # noqa: F401

        assert settings.get("CASE_REOPEN_WINDOW_HOURS") == 12.0
        assert settings.get("GATEWAY_COOKIE_SECURE") is True
