"""Text made safe for a Markdown table cell or heading: submitted names are shown as written,
never as markup (a `|` would split a cell, a backtick open code, `<script>` reach a page)."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]|])")
_NEWLINES = re.compile(r"[\r\n]+")
_UNSAFE_IN_CODE = re.compile(r"[`|<>&\r\n\\]")


def md_escape(text: object) -> str:
    """Plain text: newlines folded, HTML's specials as entities, Markdown's escaped."""
    text = _NEWLINES.sub(" ", str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def md_plain(text: object) -> str:
    """A name as written where it is plain (letters, digits, `_.-`), else escaped: a heading of
    our own names reads as before, a submitted one cannot become markup."""
    text = str(text)
    return text if re.fullmatch(r"[\w.-]+", text) else md_escape(text)


def md_code(text: object) -> str:
    """A label as inline code where that is safe in a table cell, else as escaped plain text."""
    text = str(text)
    return md_escape(text) if _UNSAFE_IN_CODE.search(text) else f"`{text}`"
