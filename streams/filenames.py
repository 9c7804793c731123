"""Attachment file names as mail clients and file systems will see them."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\/<>:|?*]')
# Format characters (Unicode Cf) include the right-to-left override that makes
# "invoice\u202efdp.exe" look like "invoiceexe.pdf"; line and paragraph separators break headers.
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def clean_filename(filename: str) -> str:
    """No paths, no control or invisible characters, nothing a mail client or file system
    chokes on; at most 150 characters, keeping the extension."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        "_" if unicodedata.category(char) in _INVISIBLE_CATEGORIES else char for char in name
    )
    name = _UNSAFE_FILENAME.sub("_", name).strip(" .")
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 150 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:150]
    return name or "attachment"


def content_type_for(filename: str) -> str:
    """The MIME type mail clients expect for this file name."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
