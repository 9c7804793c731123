"""The filters and tests an ESL template can use, with Twig's (and Emarsys's) behaviour.

Only these are installed: Jinja2's own filters that format, repeat or call (`format`, `center`,
`indent`, `wordwrap`, `attr`, `xmlattr`, …) are not, and the ones kept that build strings check
the render budget (streams.template_budget) before building.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from jinja2 import Undefined, pass_eval_context
from jinja2 import filters as jinja_filters
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from streams.sanitizing import clean_fragment
from streams.template_budget import RenderLimitExceeded, check_size, tick

# Ranges and loops over more items than this fail the render (the budget would stop them too,
# later and after more work).
MAX_ITEMS = 100_000


def is_missing(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def is_empty(value: Any) -> bool:
    """Twig's `empty`: undefined, null, false, '' and empty lists or hashes (not 0)."""
    if value.__class__ is str:
        return not value
    if is_missing(value) or value is False or value == "":
        return True
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


# --- Loops and ranges (streams.template_dialect routes syntax here) ------------------------------


def esl_loop(value: Any, pairs: bool, limit: Any = None) -> Iterable[Any]:
    """What `{% foreach %}`/`{% for %}` iterates: a list's items, a hash's values (or key and
    value with two loop variables), at most `limit` of them; checks the budget every turn."""
    if is_missing(value) or isinstance(value, (str, int, float, bool)):
        items: Iterable[Any] = ()
    elif isinstance(value, Mapping):
        items = value.items() if pairs else value.values()
    else:
        items = value
    if limit is not None and not is_missing(limit):
        try:
            count = max(0, int(limit))
        except (TypeError, ValueError):
            count = 0
        items = list(items)[:count]
    return _ticking(items)


def _ticking(items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        tick()
        yield item


def esl_range(start: Any, end: Any, step: Any = 1) -> list[Any]:
    """`a..b` and `range(a, b)`: inclusive, as in Twig; letters too (`'a'..'e'`)."""
    if isinstance(start, str) and isinstance(end, str) and len(start) == len(end) == 1:
        return [chr(c) for c in esl_range(ord(start), ord(end), step)]
    try:
        first, last, by = int(start), int(end), abs(int(step)) or 1
    except (TypeError, ValueError):
        return []
    size = abs(last - first) // by + 1
    if size > MAX_ITEMS:
        raise RenderLimitExceeded(f"a range of {size} numbers is longer than {MAX_ITEMS}")
    return list(range(first, last + 1, by) if first <= last else range(first, last - 1, -by))


def esl_cycle(values: Any, position: Any) -> Any:
    """Twig's `cycle(['odd', 'even'], loop.index0)`."""
    items = _items(values)
    try:
        return items[int(position) % len(items)] if items else None
    except (TypeError, ValueError):
        return None


def esl_coalesce(value: Any, fallback: Any) -> Any:
    """`a ?? b`: b when a is undefined or null."""
    return fallback if is_missing(value) else value


# --- Twig's and Emarsys's filters ----------------------------------------------------------------


def esl_default(value: Any, fallback: Any = "") -> Any:
    return fallback if is_empty(value) else value


def _text(value: Any) -> str:
    return "" if is_missing(value) else str(value)


def esl_upper(value: Any) -> str:
    return _text(value).upper()


def esl_lower(value: Any) -> str:
    return _text(value).lower()


def esl_capitalize(value: Any) -> str:
    return _text(value).capitalize()


def esl_title(value: Any) -> str:
    return _text(value).title()


def esl_trim(value: Any, characters: Any = None, side: str = "both") -> str:
    text = _text(value)
    chars = None if is_missing(characters) else str(characters)
    if side == "left":
        return text.lstrip(chars)
    if side == "right":
        return text.rstrip(chars)
    return text.strip(chars)


def esl_length(value: Any) -> int:
    if is_missing(value):
        return 0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return len(str(value))
    try:
        return len(value)
    except TypeError:
        return 0


def _items(value: Any) -> list[Any]:
    if is_missing(value) or isinstance(value, (str, int, float, bool)):
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value)


def esl_join(value: Any, glue: Any = "", last_glue: Any = None) -> str:
    parts = [_text(item) for item in _items(value)]
    glue = _text(glue)
    check_size(sum(map(len, parts)) + len(glue) * len(parts))
    if last_glue is not None and not is_missing(last_glue) and len(parts) > 1:
        return glue.join(parts[:-1]) + _text(last_glue) + parts[-1]
    return glue.join(parts)


@pass_eval_context
def esl_join_escaped(eval_ctx: EvalContext, value: Any, glue: Any = "", last: Any = None) -> Any:
    if eval_ctx.autoescape:
        parts = [escape(item) for item in _items(value)]
        last = None if last is None else escape(last)
        # Every piece was escaped just above.
        return Markup(esl_join(parts, escape(_text(glue)), last))  # noqa: S704
    return esl_join(value, glue, last)


def esl_first(value: Any) -> Any:
    if isinstance(value, str):
        return value[:1]
    items = _items(value)
    return items[0] if items else None


def esl_last(value: Any) -> Any:
    if isinstance(value, str):
        return value[-1:]
    items = _items(value)
    return items[-1] if items else None


def esl_replace(value: Any, search: Any, replacement: Any = None) -> str:
    """Twig's `replace({'a': 'b', …})`, and Jinja2's `replace('a', 'b')`."""
    text = _text(value)
    pairs = (
        [(str(k), _text(v)) for k, v in search.items()]
        if isinstance(search, Mapping)
        else [(_text(search), _text(replacement))]
    )
    for old, new in pairs:
        if not old:
            continue
        check_size(len(text) + text.count(old) * max(0, len(new) - len(old)))
        text = text.replace(old, new)
    return text


def esl_url_encode(value: Any) -> str:
    if isinstance(value, Mapping):
        return urlencode({str(k): _text(v) for k, v in value.items()})
    return quote(_text(value), safe="-_.~")


def esl_json_encode(value: Any) -> str:
    def plain(item: Any) -> Any:
        return None if isinstance(item, Undefined) else str(item)

    return json.dumps(value, default=plain, ensure_ascii=False, separators=(",", ":"))


def esl_number_format(
    value: Any, decimals: Any = 0, decimal_point: Any = ".", thousands: Any = ","
) -> str:
    """PHP's number_format, as Twig has it: 1234.5|number_format(2, ',', '.') → 1.234,50."""
    try:
        number = Decimal(str(value if not is_missing(value) and value != "" else 0))
        places = min(max(int(decimals), 0), 20)
    except (InvalidOperation, TypeError, ValueError):
        return _text(value)
    if not number.is_finite():
        return _text(value)
    # PHP rounds halves away from zero (1234.5 → 1,235); Python's format rounds them to even.
    exact = abs(number).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    rounded = f"{exact:,.{places}f}"
    whole, _, fraction = rounded.partition(".")
    text = whole.replace(",", _text(thousands))
    if places:
        text += _text(decimal_point) + fraction
    return ("-" if number < 0 and rounded.strip("0.,") else "") + text


@pass_eval_context
def esl_nl2br(eval_ctx: EvalContext, value: Any) -> Any:
    text = escape(_text(value)) if eval_ctx.autoescape else _text(value)
    lines = str(text).replace("\r\n", "\n").split("\n")
    joined = "<br />\n".join(lines)
    # The text was escaped above; only the <br /> tags are markup.
    return Markup(joined) if eval_ctx.autoescape else joined  # noqa: S704


def safe_html(value: Any) -> Markup:
    """Data meant as HTML, cleaned with the templates' allowlist (no scripts, no handlers, no
    javascript: links). Everything else in event data stays escaped."""
    if is_missing(value):
        return Markup("")
    return Markup(clean_fragment(str(value)))  # noqa: S704 - cleaned just above


def esl_truncate(value: Any, length: Any = 255, killwords: bool = False, end: str = "...") -> str:
    text = _text(value)
    try:
        size = max(0, int(length))
    except (TypeError, ValueError):
        return text
    return text if len(text) <= size else text[:size] + _text(end)


def esl_split(value: Any, separator: Any = "", limit: Any = None) -> list[str]:
    text = _text(value)
    separator = _text(separator)
    if not separator:
        return list(text)
    if limit is None or is_missing(limit):
        return text.split(separator)
    return text.split(separator, max(0, int(limit) - 1))


def esl_keys(value: Any) -> list[Any]:
    return list(value.keys()) if isinstance(value, Mapping) else list(range(len(_items(value))))


def esl_merge(value: Any, other: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(other, Mapping):
        return {**value, **other}
    merged = _items(value) + _items(other)
    check_size(len(merged))
    return merged


def esl_slice(value: Any, start: Any, length: Any = None) -> Any:
    begin = int(start)
    end = None if length is None or is_missing(length) else begin + int(length)
    if isinstance(value, str):
        return value[begin:end]
    return _items(value)[begin:end]


def esl_batch(value: Any, size: Any, fill_with: Any = None) -> list[list[Any]]:
    """Rows of `size` items; the last row padded with `fill_with` if given."""
    items = _items(value)
    try:
        count = max(1, int(size))
    except (TypeError, ValueError):
        return [items]
    if fill_with is not None and not is_missing(fill_with):
        check_size(len(items) + count)
    rows = [items[start : start + count] for start in range(0, len(items), count)]
    if rows and fill_with is not None and not is_missing(fill_with):
        rows[-1] = rows[-1] + [fill_with] * (count - len(rows[-1]))
    return rows


def esl_abs(value: Any) -> Any:
    try:
        return abs(value)
    except TypeError:
        return value


def esl_round(value: Any, precision: Any = 0, method: str = "common") -> Any:
    try:
        number = float(value)
        places = min(max(int(precision), 0), 20)
    except (TypeError, ValueError):
        return value
    factor = 10**places
    if method == "ceil":
        return math.ceil(number * factor) / factor
    if method == "floor":
        return math.floor(number * factor) / factor
    return round(number, places)


# --- Dates (Emarsys's localized_* with ICU patterns, through Babel) ------------------------------


def _moment(value: Any) -> dt.datetime | None:
    if is_missing(value) or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    text = str(value).strip()
    if text.lower() == "now":
        return dt.datetime.now(tz=dt.UTC)
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), tz=dt.UTC)
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _locale(name: Any) -> Locale:
    try:
        return Locale.parse(str(name or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def _localized(formatter: Any, part: str, value: Any, locale: Any, pattern: Any) -> str:
    moment = _moment(value)
    if moment is None:
        return _text(value)
    target = moment.date() if part == "date" else moment.timetz() if part == "time" else moment
    fmt = _text(pattern) or "medium"
    try:
        return formatter(target, format=fmt, locale=_locale(locale))
    except (ValueError, KeyError, AttributeError):
        return _text(value)


def localized_date(value: Any, locale: Any = "en", pattern: Any = "medium") -> str:
    return _localized(format_date, "date", value, locale, pattern)


def localized_time(value: Any, locale: Any = "en", pattern: Any = "medium") -> str:
    return _localized(format_time, "time", value, locale, pattern)


def localized_datetime(value: Any, locale: Any = "en", pattern: Any = "medium") -> str:
    return _localized(format_datetime, "datetime", value, locale, pattern)


# --- Raw HTML -------------------------------------------------------------------------------------


def esl_raw(value: Any) -> Markup:
    """Twig's `raw`: printed as HTML, but still cleaned like `|safe_html`."""
    return safe_html(value)


FILTERS = {
    "default": esl_default,
    "upper": esl_upper,
    "lower": esl_lower,
    "capitalize": esl_capitalize,
    "title": esl_title,
    "trim": esl_trim,
    "length": esl_length,
    "count": esl_length,
    "join": esl_join_escaped,
    "first": esl_first,
    "last": esl_last,
    "replace": esl_replace,
    "url_encode": esl_url_encode,
    "urlencode": esl_url_encode,
    "json_encode": esl_json_encode,
    "number_format": esl_number_format,
    "nl2br": esl_nl2br,
    "raw": esl_raw,
    "safe_html": safe_html,
    "localized_date": localized_date,
    "localized_time": localized_time,
    "localized_datetime": localized_datetime,
    "truncate": esl_truncate,
    "split": esl_split,
    "keys": esl_keys,
    "merge": esl_merge,
    "slice": esl_slice,
    "abs": esl_abs,
    "round": esl_round,
    "escape": jinja_filters.do_forceescape,
    "e": jinja_filters.do_forceescape,
    "striptags": jinja_filters.do_striptags,
    "reverse": jinja_filters.do_reverse,
    "sort": jinja_filters.do_sort,
    "unique": jinja_filters.do_unique,
    "min": jinja_filters.do_min,
    "max": jinja_filters.do_max,
    "sum": jinja_filters.sync_do_sum,
    "int": jinja_filters.do_int,
    "float": jinja_filters.do_float,
    "string": _text,
    "batch": esl_batch,
    "map": jinja_filters.sync_do_map,
    "select": jinja_filters.sync_do_select,
    "reject": jinja_filters.sync_do_reject,
    "selectattr": jinja_filters.sync_do_selectattr,
    "rejectattr": jinja_filters.sync_do_rejectattr,
    "dictsort": jinja_filters.do_dictsort,
    "wordcount": jinja_filters.do_wordcount,
    # The dialect's own (streams.template_dialect rewrites syntax into these).
    "esl_loop": esl_loop,
    "esl_range": esl_range,
    "esl_coalesce": esl_coalesce,
}


def _starts_with(value: Any, prefix: Any) -> bool:
    return _text(value).startswith(_text(prefix))


def _ends_with(value: Any, suffix: Any) -> bool:
    return _text(value).endswith(_text(suffix))


def _is_null(value: Any) -> bool:
    return is_missing(value)


def _is_iterable(value: Any) -> bool:
    return isinstance(value, (Sequence, Mapping)) and not isinstance(value, str)


TESTS = {
    "empty": is_empty,
    "null": _is_null,
    "iterable": _is_iterable,
    "esl_starts_with": _starts_with,
    "esl_ends_with": _ends_with,
}
