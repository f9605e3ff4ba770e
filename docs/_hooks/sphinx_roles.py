"""MkDocs hook: the docstrings cross-reference in Sphinx's style (:class:`X`), which
mkdocstrings shows as written; on the site the role prefix goes and the name stays code."""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub("", html)
