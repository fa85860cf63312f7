"""Settings read the way the README documents them."""

from __future__ import annotations

import pytest

from simrenew.config import Settings


def test_list_settings_take_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMRENEW_SANDBOX_SECRETS", "new-secret,old-secret")
    monkeypatch.setenv("SIMRENEW_LOGIN_COUNTRY_CODES", "852, 86")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [s.get_secret_value() for s in settings.sandbox_secrets] == ["new-secret", "old-secret"]
    assert settings.login_country_codes == ["852", "86"]
