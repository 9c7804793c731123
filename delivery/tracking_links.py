"""Our own open and click tracking: signed pixel and redirect URLs written into the HTML at send.

Streams switch it on with `track_opens` / `track_clicks`. Links are found once per stream
version, in the template, not in every rendered message: each tracked `<a href="…">` gets its
value wrapped in two private-use characters before the template is compiled (and cached). After
the render, one regular-expression pass swaps each wrapped URL for a redirect through
`/t/c/<token>`; the token is the message, the exact URL and an HMAC of both, so only URLs that
were in the rendered message can be reached, and nothing is stored per link.

Links a template marks with `data-notrack` (one-time links such as password resets) keep their
URL; the marker itself is removed. Only http(s) links are rewritten (not mailto:, tel:, #anchors),
and only in the HTML part: the text part stays exactly as written.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from streams.bounded_cache import BoundedCache
from streams.rendering import CompiledVersion, RenderedEmail, compile_parts, render

OPEN, CLOSE = "\ue000", "\ue001"
_A_TAG = re.compile(r"""<a\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_NOTRACK = re.compile(
    r"""\s+data-notrack(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?(?=[\s/>])""", re.IGNORECASE
)
_WRAPPED = re.compile(f"{OPEN}(.*?){CLOSE}", re.DOTALL)
_SALT = "delivery.tracking_links"
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# --- Tokens -------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(*parts: str) -> str:
    digest = salted_hmac(_SALT, "\x1f".join(parts), algorithm="sha256").digest()
    return _b64(digest[:16])


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def open_token(message_id: int) -> str:
    key = _base36(message_id)
    return f"{key}.{_signature('open', key)}"


def click_token(message_id: int, url: str) -> str:
    key = _base36(message_id)
    encoded = _b64(url.encode("utf-8"))
    return f"{key}.{encoded}.{_signature('click', key, encoded)}"


def read_open_token(token: str) -> int | None:
    """The message id the token names, or None if it was not made by us."""
    key, _, signature = token.partition(".")
    if not key or not constant_time_compare(signature, _signature("open", key)):
        return None
    return _int36(key)


def read_click_token(token: str) -> tuple[int, str] | None:
    """(message id, URL) the token names, or None if it was not made by us."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    key, encoded, signature = parts
    if not constant_time_compare(signature, _signature("click", key, encoded)):
        return None
    message_id = _int36(key)
    try:
        url = _unb64(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if message_id is None or not is_trackable(url):
        return None
    return message_id, url


def _int36(text: str) -> int | None:
    try:
        return int(text, 36)
    except ValueError:
        return None


def is_trackable(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def open_url(message_id: int) -> str:
    return f"{settings.SITE_URL}/t/o/{open_token(message_id)}.gif"


def click_url(message_id: int, url: str) -> str:
    return f"{settings.SITE_URL}/t/c/{click_token(message_id, url)}"


# --- Marking links in the template (once per version) -------------------------------------------


def mark_links(source: str) -> str:
    """Wrap the href of every tracked link in `source`; drop `data-notrack` from the others."""

    def tag(match: re.Match) -> str:
        text = match.group(0)
        if _NOTRACK.search(text):
            return _NOTRACK.sub("", text)

        def wrap(href: re.Match) -> str:
            prefix, double, single = href.group(1), href.group(2), href.group(3)
            quote, value = ('"', double) if double is not None else ("'", single)
            if not value.strip():
                return href.group(0)
            return f"{prefix}{quote}{OPEN}{value}{CLOSE}{quote}"

        return _HREF.sub(wrap, text, count=1)

    return _A_TAG.sub(tag, source)


def strip_markers(source: str) -> str:
    """Links as the recipient sees them without click tracking (data-notrack removed)."""
    return _A_TAG.sub(lambda m: _NOTRACK.sub("", m.group(0)), source)


# Compiled, link-marked templates per version. The key holds a hash of the HTML because test
# sends render drafts, whose content changes under the same primary key.
marked_cache: BoundedCache[tuple[int, bool, int], CompiledVersion] = BoundedCache(256)


def marked_templates(version: Any, track_clicks: bool) -> CompiledVersion:
    html_source = version.html_inlined or version.html_source

    def build() -> CompiledVersion:
        marked = mark_links(html_source) if track_clicks else strip_markers(html_source)
        return compile_parts(version.subject, marked, version.text)

    return marked_cache.get_or_build((version.pk, track_clicks, hash(html_source)), build)


# --- Per send -----------------------------------------------------------------------------------


def rewrite_links(rendered_html: str, message_id: int) -> str:
    """Swap each marked URL for its signed redirect (http(s) only); leave the rest as written."""

    def swap(match: re.Match) -> str:
        written = match.group(1)
        url = html.unescape(written).strip()
        if not is_trackable(url):
            return written
        return html.escape(click_url(message_id, url), quote=True)

    rewritten = _WRAPPED.sub(swap, rendered_html)
    # Marker characters that came with the data (not from us) must not reach the recipient.
    return rewritten.replace(OPEN, "").replace(CLOSE, "")


def add_pixel(rendered_html: str, message_id: int) -> str:
    pixel = (
        f'<img src="{html.escape(open_url(message_id))}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
    end = max(rendered_html.rfind("</body"), rendered_html.rfind("</BODY"))
    if end == -1:
        return rendered_html + pixel
    return rendered_html[:end] + pixel + rendered_html[end:]


def render_tracked(
    version: Any,
    context: dict[str, Any],
    message_id: int,
    *,
    track_opens: bool,
    track_clicks: bool,
) -> RenderedEmail:
    """Render like streams.rendering.render_version, with this message's tracking written in."""
    rendered = render(marked_templates(version, track_clicks), context)
    body = rendered.html
    if not body:
        return rendered
    if track_clicks:
        body = rewrite_links(body, message_id)
    if track_opens:
        body = add_pixel(body, message_id)
    return RenderedEmail(subject=rendered.subject, html=body, text=rendered.text)
