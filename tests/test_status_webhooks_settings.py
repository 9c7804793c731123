"""The status webhook settings refuse bad values at start-up, naming the variable."""

import pytest

from tests.test_settings import manage


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEBHOOKS_RETRY_SECONDS", "5,soon"),
        ("WEBHOOKS_RETRY_SECONDS", "5,-1"),
        ("WEBHOOKS_TIMEOUT_SECONDS", "100"),
        ("WEBHOOKS_TIMEOUT_SECONDS", "0"),
        ("WEBHOOKS_DISABLE_AFTER_DAYS", "0"),
        ("Q_WEBHOOK_WORKERS", "none"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(variable, value):
    result = manage("check", **{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr
