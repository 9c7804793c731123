"""SMTP pipelining toward the dedicated MTA (delivery.smtp_backend): MAIL, RCPT and DATA in one
write where the server offers PIPELINING, each message's end of data in one write with the next
message's commands (send_each), and smtplib's behaviour for every refusal.

The server here is a real TCP SMTP server with scripted replies that records what arrived in
each read, so the tests can see what went over the wire together.
"""

from __future__ import annotations

import smtplib
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.core.mail import EmailMessage

from delivery.smtp_backend import EmailBackend, PipeliningSMTP, Sent, _data

MESSAGE = b"Subject: hello\r\n\r\nfirst line\r\n.starts with a dot\r\n"


@dataclass
class Script:
    pipelining: bool = True
    mail: str = "250 sender ok"
    rcpt: str = "250 recipient ok"
    data: str = "354 go ahead"
    # Replies to the end of each message's data, consumed in order; then "250 queued".
    # A 421 closes the connection after it, as a server shutting down does.
    finals: list[str] = field(default_factory=list)
    # address -> reply to its RCPT TO; DATA after only refused recipients gets 554.
    refuse: dict[str, str] = field(default_factory=dict)
    # Close the connection, unanswered, when the next commands arrive.
    hang_up: bool = False
    # The reply to EHLO and HELO when set; the connection is closed after it.
    greeting_refused: str = ""
    # What arrived, one entry per read from the socket.
    reads: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    script: Script

    def reply(self, line: str) -> None:
        self.request.sendall(line.encode() + b"\r\n")

    def handle(self) -> None:
        script = self.server.script
        self.reply("220 scripted")
        pending, in_data, body, accepted = b"", False, b"", 0
        while True:
            chunk = self.request.recv(65536)
            if not chunk or script.hang_up:
                return
            script.reads.append(chunk)
            pending += chunk
            while True:
                if in_data:
                    end = pending.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    body, pending, in_data = pending[: end + 2], pending[end + 5 :], False
                    script.messages.append(body)
                    final = script.finals.pop(0) if script.finals else "250 queued"
                    self.reply(final)
                    if final.startswith("421"):
                        return
                    continue
                line, found, rest = pending.partition(b"\r\n")
                if not found:
                    break
                pending = rest
                command = line.decode().upper()
                script.commands.append(command.split(":")[0].split()[0])
                if script.greeting_refused and command.startswith(("EHLO", "HELO")):
                    self.reply(script.greeting_refused)
                    return
                if command.startswith("EHLO"):
                    extensions = ["250-scripted", "250-SIZE 10000000"]
                    if script.pipelining:
                        extensions.append("250-PIPELINING")
                    self.request.sendall(("\r\n".join([*extensions, "250 HELP"]) + "\r\n").encode())
                elif command.startswith("MAIL"):
                    self.reply(script.mail)
                    accepted = 0
                elif command.startswith("RCPT"):
                    address = line.decode().partition(":")[2].strip("<> ")
                    reply = script.refuse.get(address, script.rcpt)
                    accepted += reply.startswith("25")
                    self.reply(reply)
                elif command.startswith("DATA"):
                    data = script.data if accepted or not script.refuse else "554 no recipients"
                    self.reply(data)
                    in_data = data.startswith("354")
                elif command.startswith("QUIT"):
                    self.reply("221 bye")
                    return
                else:  # RSET, NOOP
                    self.reply("250 ok")


@pytest.fixture
def scripted() -> Iterator[tuple[Script, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.script = Script()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.script, server.server_address[1]
    server.shutdown()
    server.server_close()


def connect(port: int) -> PipeliningSMTP:
    client = PipeliningSMTP("127.0.0.1", port, timeout=5)
    client.ehlo()
    return client


def test_mail_rcpt_and_data_go_out_in_one_write(scripted):
    script, port = scripted
    client = connect(port)

    refused = client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)
    client.quit()

    assert refused == {}
    together = [read for read in script.reads if read.startswith(b"MAIL FROM")]
    assert len(together) == 1
    assert b"RCPT TO:<jane@example.org>" in together[0] and together[0].endswith(b"DATA\r\n")
    assert script.messages == [MESSAGE.replace(b"\r\n.starts", b"\r\n..starts")]


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        b".first line is a dot\r\nsecond\r\n",
        b"a\n.bare line feed before a dot\r\n..two dots\r\n.",
        b"no dot at any line start. none.\r\n",
        b"no final line break",
        b".",
        b"",
    ],
)
def test_message_data_is_dot_stuffed_and_ended_as_smtplib_does(message):
    # smtplib.SMTP.data: its dot-stuffing, a final CRLF if missing, then the end marker.
    stuffed = smtplib._quote_periods(message)
    if stuffed[-2:] != b"\r\n":
        stuffed += b"\r\n"

    assert _data(message) == stuffed + b".\r\n"


def test_without_the_offer_commands_go_one_at_a_time(scripted):
    script, port = scripted
    script.pipelining = False
    client = connect(port)

    client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)
    client.quit()

    mail = next(read for read in script.reads if read.upper().startswith(b"MAIL FROM"))
    assert b"RCPT" not in mail.upper()
    assert len(script.messages) == 1


def test_refused_sender_raises_like_smtplib_and_resets_the_session(scripted):
    script, port = scripted
    script.mail = "550 5.7.1 sender not allowed"
    script.rcpt = "503 5.5.1 need MAIL first"
    script.data = "503 5.5.1 no valid recipients"
    client = connect(port)

    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)
    script.mail, script.rcpt, script.data = "250 ok", "250 ok", "354 go ahead"
    client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)
    client.quit()

    assert refused.value.smtp_code == 550
    assert script.commands[script.commands.index("DATA") + 1] == "RSET"
    assert len(script.messages) == 1


def test_refused_recipient_raises_recipients_refused_with_the_reply(scripted):
    script, port = scripted
    script.rcpt = "550 5.1.1 user unknown"
    script.data = "554 5.5.1 no valid recipients"
    client = connect(port)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)

    assert refused.value.recipients == {"jane@example.org": (550, b"5.1.1 user unknown")}
    assert script.messages == []


def test_server_that_says_354_after_refusing_everyone_gets_no_message(scripted):
    script, port = scripted
    script.rcpt = "550 5.1.1 user unknown"
    client = connect(port)

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)

    # Only closing ends a transaction the server opened for data: nothing was delivered.
    assert client.sock is None
    assert script.messages == []


def test_temporary_data_refusal_is_a_data_error(scripted):
    script, port = scripted
    script.data = "451 4.3.0 try again later"
    client = connect(port)

    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("shop@example.com", ["jane@example.org"], MESSAGE)

    assert refused.value.smtp_code == 451
    assert script.messages == []


def transactions(*addresses: str) -> list[tuple[str, list[str], bytes]]:
    return [("shop@example.com", [address], MESSAGE) for address in addresses]


def test_each_message_end_goes_out_with_the_next_envelope(scripted):
    script, port = scripted
    client = connect(port)

    sent = client.send_each(transactions("a@example.org", "b@example.org", "c@example.org"))
    client.quit()

    assert sent == Sent([None, None, None])
    # One write per message after the first: its end of data, then the next MAIL, RCPT, DATA.
    joined = [read for read in script.reads if b"\r\n.\r\nMAIL FROM:" in read]
    assert len(joined) == 2
    assert b"RCPT TO:<c@example.org>" in joined[1] and joined[1].endswith(b"DATA\r\n")
    assert script.messages == [MESSAGE.replace(b"\r\n.starts", b"\r\n..starts")] * 3


def test_refused_message_does_not_stop_the_ones_after_it(scripted):
    script, port = scripted
    script.finals = ["250 queued", "554 5.7.1 looks like spam", "451 4.3.0 try later"]
    client = connect(port)

    sent = client.send_each(
        transactions("a@example.org", "b@example.org", "c@example.org", "d@x.org")
    )
    client.quit()

    assert sent.broken is None
    assert [None if r is None else r.smtp_code for r in sent.results] == [None, 554, 451, None]
    assert all(isinstance(r, smtplib.SMTPDataError) for r in sent.results[1:3])
    # The refusal ended its transaction; the next MAIL was already on its way, so no RSET.
    assert "RSET" not in script.commands
    assert len(script.messages) == 4


def test_refused_recipient_resets_and_the_rest_are_sent(scripted):
    script, port = scripted
    script.refuse = {"b@example.org": "550 5.1.1 user unknown"}
    client = connect(port)

    sent = client.send_each(transactions("a@example.org", "b@example.org", "c@example.org"))
    client.quit()

    assert sent.broken is None
    assert sent.results[0] is None and sent.results[2] is None
    assert sent.results[1].recipients == {"b@example.org": (550, b"5.1.1 user unknown")}
    assert script.commands.count("RSET") == 1
    assert len(script.messages) == 2


def test_server_closing_after_a_message_stops_before_the_next_one(scripted):
    script, port = scripted
    script.finals = ["250 queued", "421 4.3.2 shutting down"]
    client = connect(port)

    sent = client.send_each(transactions("a@example.org", "b@example.org", "c@example.org"))

    # The first two went out and were answered; the third's data never left.
    assert sent.results[0] is None
    assert sent.results[1].smtp_code == 421
    assert sent.broken is sent.results[1]
    assert client.sock is None
    assert len(script.messages) == 2


def test_connection_lost_before_anything_went_out_has_no_results(scripted):
    script, port = scripted
    client = connect(port)
    script.hang_up = True  # as a server that closed a kept connection meanwhile

    sent = client.send_each(transactions("a@example.org"))

    assert sent.results == []
    assert isinstance(sent.broken, smtplib.SMTPServerDisconnected)
    assert script.messages == []


def test_without_the_offer_send_each_goes_one_command_at_a_time(scripted):
    script, port = scripted
    script.pipelining = False
    client = connect(port)

    sent = client.send_each(transactions("a@example.org", "b@example.org"))
    client.quit()

    assert sent == Sent([None, None])
    assert not any(b"RCPT" in read.upper() and b"MAIL" in read.upper() for read in script.reads)
    assert len(script.messages) == 2


def test_server_refusing_the_greeting_is_a_result_not_an_exception(scripted):
    script, port = scripted
    script.greeting_refused = "421 4.3.2 too busy, try later"
    client = PipeliningSMTP("127.0.0.1", port, timeout=5)  # EHLO is sent with the first message

    sent = client.send_each(transactions("a@example.org"))

    assert sent.results == []
    assert isinstance(sent.broken, smtplib.SMTPException)
    assert script.messages == []


class _Unreadable(EmailMessage):
    def wire_bytes(self) -> bytes:
        raise OSError("the attachment's storage is unreachable")


def test_message_that_cannot_be_built_fails_alone(scripted):
    script, port = scripted
    backend = EmailBackend(host="127.0.0.1", port=port, timeout=5)
    backend.open()
    emails = [
        EmailMessage("one", "first", "shop@example.com", ["a@example.org"]),
        _Unreadable("two", "second", "shop@example.com", ["b@example.org"]),
        EmailMessage("three", "third", "shop@example.com", ["c@example.org"]),
    ]

    sent = backend.send_each(emails)
    backend.close()

    assert sent.broken is None
    assert sent.results[0] is None and sent.results[2] is None
    assert isinstance(sent.results[1], OSError)
    assert len(script.messages) == 2
