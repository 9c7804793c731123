"""The only tags and filters a mail stream's template can use.

Django's defaults minus everything that reaches outside the template or switches off escaping:
no `{% load %}`, `{% include %}`, `{% extends %}`, `{% debug %}`, `{% url %}`, `{% csrf_token %}`,
`{% autoescape %}`, and no `|safe`/`|safeseq` (data meant as HTML goes through `|safe_html`,
which cleans it). The locked-down engines in streams.rendering use this library as their only
builtin.
"""

from django.template import Library, defaultfilters, defaulttags

from streams.sanitizing import clean_fragment

FORBIDDEN_TAGS = {"load", "debug", "csrf_token", "url", "querystring", "autoescape"}
FORBIDDEN_FILTERS = {"safe", "safeseq", "pprint"}

register = Library()
register.tags = {
    name: tag for name, tag in defaulttags.register.tags.items() if name not in FORBIDDEN_TAGS
}
register.filters = {
    name: fn
    for name, fn in defaultfilters.register.filters.items()
    if name not in FORBIDDEN_FILTERS
}


@register.filter(name="safe_html", is_safe=True)
def safe_html(value: object) -> str:
    """Insert data meant as HTML, cleaned with the templates' allowlist (no scripts, no
    handlers, no javascript: links). Everything else in event data stays escaped."""
    if value is None:
        return ""
    return clean_fragment(str(value))
