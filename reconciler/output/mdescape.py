"""The one Markdown escaper: any string from AWS or the manifest becomes inert text in GFM.

Invariant: ``md_text(s)`` renders (CommonMark + GFM tables) as exactly ``s`` with whitespace runs
collapsed to one space, as plain text: no link, image, autolink, HTML, emphasis, code, heading,
list, or table-cell break. How:

* every ASCII punctuation character is backslash-escaped (CommonMark: any ASCII punctuation may be;
  the result is that literal character). That covers ``| ` [ ] ( ) < > & # ! * _ ~ \\`` and also
  ``:`` ``.`` ``@``, which is what stops GFM's bare-URL, ``www.`` and e-mail autolinks;
* newlines, tabs and other control characters become spaces, and runs of whitespace one space,
  so a value cannot end a table row or start a block (a heading, a list, indented code).
"""

from __future__ import annotations

import re
import string

_ESCAPES = {ord(c): "\\" + c for c in string.punctuation}  # string.punctuation is exactly ASCII punctuation
# C0/C1 controls, DEL, Unicode line/paragraph separators and every whitespace: one space each run
_SPACE_RUNS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def md_text(value: object) -> str:
    """``value`` as inert Markdown text (see the module invariant)."""
    return _SPACE_RUNS.sub(" ", str(value)).strip().translate(_ESCAPES)
