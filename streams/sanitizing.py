"""Cleaning marketer-authored HTML (on save) and event data meant as HTML (`|safe_html`).

bleach does the cleaning with an allowlist broad enough for real email layouts: tables and their
attributes, inline styles, images, `<style>` in the head, Outlook's conditional comments. What it
removes: script elements whole (with their text), event-handler attributes (`on…`), `javascript:`
and other non-web URLs, and every element a mail client has no business seeing (forms, frames,
objects, embeds, SVG, base, link).

bleach parses with html5lib, which would rewrite a template in ways that change what it means:
text inside a `<table>` but outside a cell is moved in front of the table ("foster parenting"),
so `<table>{% for %}<tr>…</tr>{% endfor %}</table>` would lose its loop; the content of `<style>`
and of comments is escaped (`p > a` becomes `p &gt; a`); `<html>`, `<head>` and `<body>` are
dropped. So, before bleach sees it:

- template syntax is swapped for opaque tokens (streams.template_tokens, as for CSS inlining);
  tokens in text positions are wrapped in HTML comments, which html5lib never moves;
- comments and `<style>` elements are set aside and put back afterwards. bleach never sees
  inside them, so they are judged here: a comment is kept only when it is inert (no markup that
  could run, no URL with a script scheme, no trick that ends it early such as `--!>` or
  `<!-->`), checked after decoding entities and removing whitespace and control characters;
  otherwise it is dropped whole (its template tags stay). Outlook's conditional comments
  (`<!--[if mso]>…<![endif]-->`) are comments too and pass the same check. `<style>` text is
  scrubbed (`@import`, `expression()`, `behavior:`), and dropped whole when its CSS, with
  comments and escapes decoded, still holds anything dangerous;
- the document is split into its head and body, each cleaned with its own allowlist, and the
  `<html>`, `<head>` and `<body>` tags keep only their harmless attributes.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import secrets
from collections.abc import Callable, Iterable
from html import unescape as html_unescape

import bleach
from bleach.css_sanitizer import CSSSanitizer
from bleach.sanitizer import BleachSanitizerFilter
from django.utils.safestring import SafeString, mark_safe

from streams.template_tokens import ProtectedHtml, protect

# The shape of streams.template_tokens' placeholders for template syntax.
TEMPLATE_TOKEN = re.compile(r"tetok[0-9a-f]+n\d+x")

# --- the allowlist -----------------------------------------------------------------------------

BODY_TAGS = frozenset(
    {
        "a", "abbr", "address", "area", "article", "aside", "b", "bdi", "bdo", "big",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li",
        "main", "map", "mark", "nav", "ol", "p", "pre", "q", "s", "samp", "section", "small",
        "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip
HEAD_TAGS = frozenset({"meta", "title"})

GLOBAL_ATTRIBUTES = frozenset(
    {
        "align", "background", "bgcolor", "border", "class", "dir", "height", "id", "lang",
        "role", "style", "title", "valign", "width",
    }
)  # fmt: skip
TAG_ATTRIBUTES = {
    # data-notrack marks links that open/click tracking must leave alone (delivery.tracking_links).
    "a": {"href", "name", "rel", "target", "data-notrack"},
    "area": {"alt", "coords", "href", "shape", "target"},
    "blockquote": {"cite"},
    "col": {"span"},
    "colgroup": {"span"},
    "del": {"cite", "datetime"},
    "font": {"color", "face", "size"},
    "img": {"alt", "border", "hspace", "src", "usemap", "vspace"},
    "ins": {"cite", "datetime"},
    "li": {"value"},
    "map": {"name"},
    "ol": {"start", "type"},
    "q": {"cite"},
    "table": {"cellpadding", "cellspacing", "frame", "rules", "summary"},
    "td": {"colspan", "headers", "nowrap", "rowspan", "scope"},
    "th": {"abbr", "colspan", "headers", "nowrap", "rowspan", "scope"},
    "time": {"datetime"},
    "ul": {"type"},
}
# Attributes of the document's own tags, which bleach never sees (see clean_template_html).
DOCUMENT_TAG_ATTRIBUTES = {
    "html": {"dir", "lang", "xml:lang", "xmlns", "xmlns:o", "xmlns:v"},
    "head": set(),
    "body": {"bgcolor", "class", "dir", "id", "lang", "style"},
    "style": {"media", "type"},
    "tbody": set(GLOBAL_ATTRIBUTES),
}
# Only what a <meta> in an email's head is for; no refresh redirects.
META_HTTP_EQUIV = frozenset({"content-type", "x-ua-compatible"})

PROTOCOLS = frozenset({"http", "https", "mailto", "tel", "cid"})

CSS_PROPERTIES = frozenset(
    {
        "background", "background-color", "background-image", "background-position",
        "background-repeat", "background-size", "border", "border-bottom",
        "border-bottom-color", "border-bottom-left-radius", "border-bottom-right-radius",
        "border-bottom-style", "border-bottom-width", "border-collapse", "border-color",
        "border-left", "border-left-color", "border-left-style", "border-left-width",
        "border-radius", "border-right", "border-right-color", "border-right-style",
        "border-right-width", "border-spacing", "border-style", "border-top",
        "border-top-color", "border-top-left-radius", "border-top-right-radius",
        "border-top-style", "border-top-width", "border-width", "box-sizing", "caption-side",
        "clear", "color", "direction", "display", "empty-cells", "float", "font",
        "font-family", "font-size", "font-style", "font-variant", "font-weight", "height",
        "letter-spacing", "line-height", "list-style", "list-style-position",
        "list-style-type", "margin", "margin-bottom", "margin-left", "margin-right",
        "margin-top", "max-height", "max-width", "min-height", "min-width",
        "mso-hide", "mso-line-height-rule", "mso-padding-alt", "mso-table-lspace",
        "mso-table-rspace", "mso-text-raise", "opacity", "outline", "overflow", "padding",
        "padding-bottom", "padding-left", "padding-right", "padding-top", "table-layout",
        "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
        "visibility", "white-space", "width", "word-break", "word-spacing", "word-wrap",
        "-ms-text-size-adjust", "-webkit-text-size-adjust", "-webkit-font-smoothing",
    }
)  # fmt: skip

# --- scrubbing raw text (comments, <style> contents, style attributes) --------------------------

_SCRIPT_ELEMENT = re.compile(r"<script\b.*?(?:</script\s*>|\Z)", re.IGNORECASE | re.DOTALL)
# `on…=` wherever an attribute name can start: after whitespace, `/` (`<svg/onload=…>`) or a
# quote (`<img src="x"/onerror=…>`, `<a title="a"onclick=…>`).
_EVENT_HANDLER = re.compile(
    r"""(?<![a-z0-9_.:-])on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*)""", re.IGNORECASE
)
_DANGEROUS_CSS = [
    (re.compile(r"@import[^;]*;?", re.IGNORECASE), ""),
    (re.compile(r"expression\s*\(", re.IGNORECASE), "invalid("),
    (re.compile(r"(?:-moz-binding|behavior)\s*:", re.IGNORECASE), "invalid:"),
]
_DANGEROUS_URL = re.compile(r"(?:java|vb|live)script\s*:|data\s*:\s*text/html", re.IGNORECASE)


# --- judging text bleach does not parse (comments, CSS) ----------------------------------------

# Whitespace, control and invisible characters a browser skips inside a URL scheme or that
# split a keyword for a naive check (`jav&#x09;ascript:`, `java\0script:`).
_INVISIBLE = re.compile(
    "[\x00-\x20\x7f-\xa0\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]+"
)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", re.DOTALL)
_DANGEROUS_ELEMENT = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|frameset|object|embed|applet|form|input|button|"
    r"textarea|select|svg|math|base|link|meta|template|noscript|portal|isindex|import)\b",
    re.IGNORECASE,
)
_HANDLER = re.compile(r"(?<![a-z0-9_.:-])on[a-z]+\s*=", re.IGNORECASE)
# Checked on text without whitespace or control characters, lower case.
_SCRIPT_SCHEME = re.compile(
    r"(?:java|vb|live|mocha|j)script:|data:(?!image/(?:png|gif|jpe?g|webp)[;,])"
)
_DANGEROUS_CSS_SQUEEZED = re.compile(
    r"expression\(|behaviou?r:|-moz-binding|binding:|@import(?:url\(|['\"])"
)
_CSS_URL_SCHEME = re.compile(r"url\(['\"]?([a-z][a-z0-9+.-]*):")
_SAFE_CSS_URL_SCHEMES = frozenset({"http", "https", "cid"})


def _decode_entities(text: str) -> str:
    # `&amp;#106;` is only `&#106;` to a browser, but a check that decodes until nothing
    # changes is never fooled by the encoding depth.
    for _ in range(4):
        decoded = html_unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def _decode_css(text: str) -> str:
    r"""CSS as a browser reads it: comments removed, `\6a` and `\j` escapes decoded."""

    def char(match: re.Match) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF else ""
        return match.group(2)

    return _CSS_ESCAPE.sub(char, _CSS_COMMENT.sub("", text))


def css_is_dangerous(css: str) -> bool:
    """True when CSS could run script or fetch a stylesheet or behaviour, however it is encoded."""
    for variant in {css, _decode_entities(css)}:
        squeezed = _INVISIBLE.sub("", _decode_css(variant)).lower()
        if _DANGEROUS_CSS_SQUEEZED.search(squeezed) or _SCRIPT_SCHEME.search(squeezed):
            return True
        # Any data: URL left is an image (_SCRIPT_SCHEME refuses the others).
        schemes = set(_CSS_URL_SCHEME.findall(squeezed)) - {"data"}
        if schemes - _SAFE_CSS_URL_SCHEMES:
            return True
    return False


def markup_is_dangerous(markup: str) -> bool:
    """True when markup (a comment's content, say) holds anything that could run: an element
    or handler that scripts, a script URL, dangerous CSS, in any encoding."""
    decoded = _decode_entities(markup)
    for variant in (markup, decoded):
        if _DANGEROUS_ELEMENT.search(variant) or _HANDLER.search(variant):
            return True
        if _SCRIPT_SCHEME.search(_INVISIBLE.sub("", variant).lower()):
            return True
    return css_is_dangerous(decoded)


def comment_is_inert(comment: str) -> bool:
    """True for `<!--…-->` that a browser also reads as one comment, holding nothing that runs
    (Outlook reads a conditional comment's content as markup)."""
    inner = comment[4:-3]
    if inner.startswith((">", "->")) or "--!>" in inner or "<!--" in inner:
        # `<!-->` and `<!--->` end at once, `--!>` ends a comment too: what follows is live.
        return False
    return not markup_is_dangerous(inner)


def remove_script_elements(html: str) -> str:
    """Remove `<script>` elements together with their text (bleach alone would keep the text)."""
    return _SCRIPT_ELEMENT.sub("", html)


def scrub_raw_text(text: str) -> str:
    """Neutralise what could run in markup bleach does not parse (comments, CSS)."""
    text = remove_script_elements(text)
    text = _EVENT_HANDLER.sub("", text)
    for pattern, replacement in _DANGEROUS_CSS:
        text = pattern.sub(replacement, text)
    return _DANGEROUS_URL.sub("blocked:", text)


class EmailCSSSanitizer(CSSSanitizer):
    """bleach's CSS sanitizer with email properties, returning untouched styles unchanged."""

    def __init__(self) -> None:
        super().__init__(allowed_css_properties=CSS_PROPERTIES, allowed_svg_properties=set())

    def sanitize_css(self, style: str) -> str:
        if TEMPLATE_TOKEN.search(style):
            # `style="{{ event.style }}"` or `{% if %}` around declarations: which properties
            # it ends up with depends on data, so only the dangerous constructs are removed.
            return scrub_raw_text(style)
        cleaned = super().sanitize_css(style)
        # tinycss2 re-serialises every declaration; when nothing was dropped, keep the author's
        # spelling so a clean template comes back exactly as written.
        if _declarations(cleaned) == _declarations(style):
            cleaned = style.strip()
        cleaned = scrub_raw_text(cleaned)
        # What scrubbing cannot see (escapes, comments inside keywords) drops the whole style.
        return "" if css_is_dangerous(cleaned) else cleaned


def _declarations(style: str) -> list[str]:
    return [part.strip() for part in style.split(";") if part.strip()]


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if TEMPLATE_TOKEN.fullmatch(name):
        # `<td {% if x %}nowrap{% endif %}>`: template syntax where an attribute stands.
        return True
    if name in GLOBAL_ATTRIBUTES or name.startswith("aria-"):
        return True
    if name in TAG_ATTRIBUTES.get(tag, ()):
        return True
    if tag == "meta":
        if name == "http-equiv":
            return value.strip().lower() in META_HTTP_EQUIV
        return name in {"charset", "content", "name"}
    return False


_CSS = EmailCSSSanitizer()


class _TemplateSanitizerFilter(BleachSanitizerFilter):
    def sanitize_uri_value(self, value: str, allowed_protocols: Iterable[str]) -> str | None:
        # `href="{{ event.url }}"`, `href="{% if a %}https://a{% else %}https://b{% endif %}"`:
        # what the author wrote around the template syntax must be a safe URL; the data
        # inserted at send time is escaped like all data.
        if not TEMPLATE_TOKEN.search(value):
            return super().sanitize_uri_value(value, allowed_protocols)
        checked = super().sanitize_uri_value(TEMPLATE_TOKEN.sub("", value), allowed_protocols)
        return None if checked is None else value


class _TemplateCleaner(bleach.sanitizer.Cleaner):
    """bleach's Cleaner with the template-aware URL check (Cleaner.clean, filter swapped)."""

    def clean(self, text: str) -> str:
        if not text:
            return ""
        filtered = _TemplateSanitizerFilter(
            source=self.walker(self.parser.parseFragment(text)),
            allowed_tags=self.tags,
            attributes=self.attributes,
            strip_disallowed_tags=self.strip,
            strip_html_comments=self.strip_comments,
            css_sanitizer=self.css_sanitizer,
            allowed_protocols=self.protocols,
        )
        return self.serializer.render(filtered)


def _cleaner(tags: frozenset[str], *, keep_comments: bool) -> bleach.sanitizer.Cleaner:
    return _TemplateCleaner(
        tags=tags,
        attributes=_allowed_attribute,
        protocols=PROTOCOLS,
        strip=True,
        strip_comments=not keep_comments,
        css_sanitizer=_CSS,
    )


# Cleaners are reusable; bleach documents them as not thread-safe, so one per use.
def _body_cleaner() -> bleach.sanitizer.Cleaner:
    return _cleaner(BODY_TAGS, keep_comments=True)


def _head_cleaner() -> bleach.sanitizer.Cleaner:
    return _cleaner(HEAD_TAGS, keep_comments=True)


# --- data meant as HTML (|safe_html) -----------------------------------------------------------


def clean_fragment(html: str) -> SafeString:
    """Clean a piece of HTML from event or contact data with the template allowlist."""
    cleaned = _cleaner(BODY_TAGS, keep_comments=False).clean(remove_script_elements(html))
    return mark_safe(cleaned)  # noqa: S308 - bleach has just cleaned it


# --- templates -----------------------------------------------------------------------------------

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_STYLE_ELEMENT = re.compile(r"(<style\b[^<>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
# A start or end tag, with quoted attribute values that may contain ">".
_TAG = re.compile(r"""<[A-Za-z/](?:[^<>"']|"[^"]*"|'[^']*')*>""")
_RCDATA_ELEMENT = re.compile(r"<(title|textarea)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_DOCTYPE = re.compile(r"\s*<!doctype\s+html\b[^<>]*>", re.IGNORECASE)
_HTML_OPEN = re.compile(r"\s*<html\b[^<>]*>", re.IGNORECASE)
_HEAD_OPEN = re.compile(r"\s*<head\b[^<>]*>", re.IGNORECASE)
_HEAD_CLOSE = re.compile(r"</head\s*>", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^<>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
_HTML_CLOSE = re.compile(r"</html\s*>\s*\Z", re.IGNORECASE)
_TBODY_OPEN = re.compile(r"<tbody\b[^<>]*>", re.IGNORECASE)
_TBODY_CLOSE = re.compile(r"</tbody\s*>", re.IGNORECASE)
_IMPLIED_TBODY = re.compile(r"</?tbody>")
# html5lib writes boolean attributes it does not know as such (`<td nowrap>`) as `nowrap=""`.
_EMPTY_BOOLEAN = re.compile(r'(\s(?:nowrap|noshade|compact))=""')
_WRAPPED_TOKEN = re.compile(r"<!--(" + TEMPLATE_TOKEN.pattern + r")-->")
_OUR_COMMENT = re.compile(r"<!--(?:" + TEMPLATE_TOKEN.pattern + r"|tekeep[0-9a-f]+n\d+x)-->")


class _SetAside:
    """Pieces of markup replaced by placeholder comments while bleach works."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(6)
        self.pieces: dict[str, str] = {}

    def keep(self, piece: str) -> str:
        key = f"tekeep{self.nonce}n{len(self.pieces)}x"
        self.pieces[key] = piece
        return f"<!--{key}-->"

    def put_back(self, html: str) -> str:
        found: list[str] = []

        def swap(match: re.Match) -> str:
            found.append(match.group(1))
            return self.pieces[match.group(1)]

        restored = re.sub(rf"<!--(tekeep{self.nonce}n\d+x)-->", swap, html)
        if sorted(found) != sorted(self.pieces):
            raise ValueError("Comments or <style> elements did not survive cleaning.")
        return restored


def _clean_open_tag(tag: str, name: str) -> str:
    """`<body onload=… style=…>` → `<body style=…>`: keep only the tag's harmless attributes."""
    allowed = DOCUMENT_TAG_ATTRIBUTES[name]
    fake = "<span" + tag[1 + len(name) : -1] + "></span>"
    cleaned = bleach.clean(
        fake,
        tags={"span"},
        attributes={"span": sorted(allowed)},
        protocols=PROTOCOLS,
        strip=True,
        css_sanitizer=_CSS,
    )
    return "<" + name + cleaned[len("<span") : -len("></span>")] + ">"


def _wrap_text_tokens(html: str) -> str:
    """Wrap tokens that stand in text in comments, which html5lib never moves out of a table.

    Tokens inside a tag (attribute values) or inside <title>/<textarea> stay bare: there a
    comment would be text.
    """
    tags = [m.span() for m in _TAG.finditer(html)]
    tag_starts = [start for start, _ in tags]
    rcdata = [m.span() for m in _RCDATA_ELEMENT.finditer(html)]

    def stays_bare(position: int) -> bool:
        index = bisect.bisect_right(tag_starts, position) - 1
        if index >= 0 and tags[index][0] < position < tags[index][1]:
            return True
        return any(start < position < end for start, end in rcdata)

    return TEMPLATE_TOKEN.sub(
        lambda m: m.group(0) if stays_bare(m.start()) else f"<!--{m.group(0)}-->", html
    )


def clean_template_html(source: str) -> str:
    """Clean a stream's or campaign's HTML template.

    A template that is already clean comes back exactly as written. Template syntax inside an
    attribute that is dropped (an `on…` handler, a `javascript:` link) goes with it.
    """
    if not source.strip():
        return source
    protected = protect(remove_script_elements(source))
    aside = _SetAside()
    html = _COMMENT.sub(lambda m: _keep_comment(aside, m.group(0)), protected.html)
    html = _STYLE_ELEMENT.sub(lambda m: _keep_style(aside, m), html)
    # html5lib adds a <tbody> around rows written straight into a <table>; the author's own
    # <tbody> tags are set aside, so every <tbody> in bleach's output is one it added.
    html = _TBODY_OPEN.sub(lambda m: aside.keep(_clean_open_tag(m.group(0), "tbody")), html)
    html = _TBODY_CLOSE.sub(lambda m: aside.keep(m.group(0)), html)
    html = _wrap_text_tokens(html)
    html = _clean_document(html)
    # Comments left now were not set aside by us (an unterminated `<!--`, `<!x>`, `<?x>`,
    # which html5lib reads as comments): none of them is the author's layout.
    html = _COMMENT.sub(lambda m: m.group(0) if _OUR_COMMENT.fullmatch(m.group(0)) else "", html)
    html = _IMPLIED_TBODY.sub("", html)
    html = _EMPTY_BOOLEAN.sub(r"\1", html)
    html = aside.put_back(html)
    html = _WRAPPED_TOKEN.sub(r"\1", html)
    return _restore_kept(protected, html)


def _template_tags_in(piece: str) -> str:
    # What is dropped goes without its markup, not without its template logic: a `{% if %}`
    # inside a dropped comment still needs its `{% endif %}`.
    return "".join(TEMPLATE_TOKEN.findall(piece))


def _keep_comment(aside: _SetAside, comment: str) -> str:
    if comment_is_inert(comment):
        return aside.keep(comment)
    return _template_tags_in(comment)


def _keep_style(aside: _SetAside, match: re.Match) -> str:
    css = scrub_raw_text(match.group(2))
    if "<" in css or css_is_dangerous(css):
        # `<` has no place in CSS: `</style/>` ends the element for a browser, not for us.
        return _template_tags_in(match.group(0))
    return aside.keep(_clean_open_tag(match.group(1), "style") + css + match.group(3))


def _restore_kept(protected: ProtectedHtml, html: str) -> str:
    """Put template syntax back; tokens of dropped attributes are gone with them."""
    kept = {token: syntax for token, syntax in protected.tokens.items() if token in html}
    return dataclasses.replace(protected, tokens=kept).restore(html)


def _clean_document(html: str) -> str:
    body_open = _BODY_OPEN.search(html)
    if body_open is None:
        return _body_cleaner().clean(html)
    before, body = html[: body_open.start()], html[body_open.end() :]
    after = ""
    body_close = _BODY_CLOSE.search(body)
    if body_close is not None:
        body, after = body[: body_close.start()], body[body_close.start() :]
    return (
        _clean_before_body(before)
        + _clean_open_tag(body_open.group(0), "body")
        + _body_cleaner().clean(body)
        + _clean_after_body(after)
    )


def _take(pattern: re.Pattern, text: str, clean: Callable[[str], str]) -> tuple[str, str]:
    match = pattern.match(text)
    if match is None:
        return "", text
    piece = match.group(0)
    stripped = piece.lstrip()
    return piece[: len(piece) - len(stripped)] + clean(stripped), text[match.end() :]


def _clean_before_body(text: str) -> str:
    """Doctype, `<html>`, and the head: meta, title, styles and comments set aside."""
    doctype, text = _take(_DOCTYPE, text, lambda piece: piece)
    html_open, text = _take(_HTML_OPEN, text, lambda piece: _clean_open_tag(piece, "html"))
    head_open, text = _take(_HEAD_OPEN, text, lambda piece: _clean_open_tag(piece, "head"))
    head_close = None
    for head_close in _HEAD_CLOSE.finditer(text):  # noqa: B007 - the last one counts
        pass
    if head_close is None:
        return doctype + html_open + head_open + _head_cleaner().clean(text)
    head, between = text[: head_close.start()], text[head_close.end() :]
    return (
        doctype
        + html_open
        + head_open
        + _head_cleaner().clean(head)
        + head_close.group(0)
        + _head_cleaner().clean(between)
    )


def _clean_after_body(text: str) -> str:
    if not text:
        return ""
    body_close = _BODY_CLOSE.match(text)
    rest = text[body_close.end() :] if body_close else text
    html_close = _HTML_CLOSE.search(rest)
    tail = rest[html_close.start() :] if html_close else ""
    middle = rest[: html_close.start()] if html_close else rest
    return (body_close.group(0) if body_close else "") + _body_cleaner().clean(middle) + tail


_REMOVAL_CHECKS = [
    (re.compile(r"<script\b", re.IGNORECASE), "script elements"),
    (
        re.compile(r"""<[^<>]*[\s/"']on[a-z]+\s*=""", re.IGNORECASE),
        "event-handler attributes (on…)",
    ),
    (re.compile(r"(?:java|vb)script\s*:", re.IGNORECASE), "javascript: links"),
    (
        re.compile(r"<(?:iframe|frame|object|embed|form|input|button|svg|math|base|link)\b", re.I),
        "elements not allowed in email (frames, forms, objects, SVG, base, link)",
    ),
]


def describe_removed(before: str, after: str) -> list[str]:
    """What cleaning took out of `before`, in words a marketer understands."""
    if before == after:
        return []
    removed = [what for pattern, what in _REMOVAL_CHECKS if pattern.search(before)]
    return removed or ["markup outside the allowlist (the cleaned HTML is what will be sent)"]
