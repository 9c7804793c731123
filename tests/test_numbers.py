"""Whole numbers from outside are read from ASCII digits only, and only within 64 bits."""

import pytest

from triggered_email.numbers import BIGINT_MAX, ascii_int


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), ("007", 7), (str(BIGINT_MAX), BIGINT_MAX), ("0" * 40 + "5", 5)],
)
def test_ascii_digits_up_to_the_maximum_are_read(text, expected):
    assert ascii_int(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\u00b2",  # superscript two: isdigit() is true, int() fails
        "\u0661",  # Arabic-Indic one: int() reads it as 1
        "\uff11",  # fullwidth one
        "1\n",
        " 1",
        "+1",
        "-1",
        "1_000",
        "1e3",
        str(BIGINT_MAX + 1),
        "9" * 5000,  # beyond int()'s 4300-digit limit: no ValueError either
        None,
        7,
    ],
)
def test_anything_else_is_none(text):
    assert ascii_int(text) is None


def test_a_smaller_maximum_bounds_the_value():
    assert ascii_int("3", maximum=3) == 3
    assert ascii_int("4", maximum=3) is None
    assert ascii_int("0", maximum=-1) is None
