"""Real-looking bounce material from tests/fixtures/bounces/, filled in for a test's messages."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"


def fixture_text(name: str, **values: str) -> str:
    """The fixture with each {{NAME}} replaced by values["NAME"]."""
    text = (FIXTURES / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def dsn_bytes(name: str, *, return_path: str, recipient: str, message_id: str) -> bytes:
    """A DSN as it arrives over SMTP (CRLF line ends)."""
    text = fixture_text(name, RETURN_PATH=return_path, RECIPIENT=recipient, MESSAGE_ID=message_id)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
