"""What a signer's name may contain, on every channel: the web form, the stand tablet
(its form and the queued signatures it sends later) and the rows an organiser types in
from a paper list.  One filter and one validator, used by all of their forms.
"""

from __future__ import annotations

import re

# Invisible formatting characters, removed from a name rather than refused: the resident
# cannot see them, so could not find them to delete them.  Phones and messaging apps
# bring them in with copy and paste (a contact's name wrapped in isolates, direction
# marks around a word in Arabic letters).  In the clerk's PDF, the spreadsheet and the
# admin's lists the embeddings, overrides and isolates change how the text around them is
# laid out (U+202E shows a name backwards: a way to make one name pass for another);
# removed, the name shows as the letters it is made of.
#   U+00AD soft hyphen, U+061C Arabic letter mark, U+200B zero width space,
#   U+200E/U+200F left-to-right and right-to-left marks,
#   U+202A-U+202E embeddings, overrides and their end (PDF),
#   U+2060-U+2064 word joiner and invisible operators,
#   U+2066-U+2069 isolates, U+206A-U+206F deprecated shaping and symmetric-swapping
#   controls, U+FEFF byte order mark.
# Not U+200C/U+200D (zero width non-joiner and joiner): they are part of how Persian and
# Arabic names are spelt (می‌خواهم, the non-joiner keeps two letters apart).
INVISIBLE = re.compile(
    "[\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)


def without_invisible(value: str) -> str:
    """A name without the invisible formatting characters above (ZWNJ and ZWJ stay)."""
    return INVISIBLE.sub("", value)


def clean(value: str | None) -> str | None:
    """The form filter of every signer's name: invisible marks out, outer spaces off."""
    if not isinstance(value, str):
        return value
    return without_invisible(value).strip()
