"""CSS inlining, done once when a version is published and never per send."""

import logging
import threading

from premailer import Premailer

from streams.template_tokens import protect

# One configured instance per process: building a Premailer is not free, and transform() keeps
# no state between calls. The lock covers cssutils, whose parser is not thread-safe.
_premailer = Premailer(
    allow_network=False,
    disable_validation=True,
    # Rules that cannot be inlined (@media, :hover) stay in a <style> in <head>.
    disable_leftover_css=False,
    keep_style_tags=False,
    strip_important=False,
    # No width/align/bgcolor attributes derived from the CSS: the marketer's markup stays
    # exactly as written; only style attributes are added.
    disable_basic_attributes=["align", "valign", "bgcolor", "width", "height"],
    cssutils_logging_level=logging.CRITICAL,
)
_lock = threading.Lock()


def inline_css(html_source: str) -> str:
    """Return `html_source` with its <style> rules moved into style attributes.

    Template syntax is swapped for opaque tokens first and restored afterwards, so the result is
    still the marketer's template, with the same tags in the same places.
    """
    if not html_source.strip():
        return html_source
    protected = protect(html_source)
    with _lock:
        inlined = _premailer.transform(protected.html, pretty_print=False)
    return protected.restore(inlined)
