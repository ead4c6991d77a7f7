"""mkdocs hook: fill each ``<!-- reference:NAME -->`` marker from the code (reconciler/_docs_reference.py).

The checkout being built comes first on ``sys.path``, so the reference describes this tree's code
even where another copy of the package is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reconciler._docs_reference import substitute  # noqa: E402


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return substitute(markdown)
