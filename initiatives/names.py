"""What a signer's name may contain, on every channel: the web form, the stand tablet
(its form and the queued signatures it sends later) and the rows an organiser types in
from a paper list.  One filter and one validator, used by all of their forms.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.form import BaseForm
from wtforms.validators import ValidationError

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
# Written with escapes (a raw string): the pattern is also sent to the tablet's script,
# and a page's source is no place for invisible controls.
# Not U+200C/U+200D (zero width non-joiner and joiner): they are part of how Persian and
# Arabic names are spelt (in محمد‌رضا the non-joiner keeps two names apart).
INVISIBLE = re.compile(
    r"[\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)


def without_invisible(value: str) -> str:
    """A name without the invisible formatting characters above (ZWNJ and ZWJ stay)."""
    return INVISIBLE.sub("", value)


def clean(value: str | None) -> str | None:
    """The form filter of every signer's name: invisible marks out, outer spaces off."""
    if not isinstance(value, str):
        return value
    return without_invisible(value).strip()


# A web or e-mail address in a name.  The confirmation mail greets the signer by name at
# whatever address was typed in: with an address in the name, anyone could have us mail
# a link of their choice to anyone.  What mail programs turn into a link is what counts:
# a scheme, "www.", an "@", a host followed by a path ("bit.ly/x"), a host of three
# labels ("spam.example.com"), or a word followed directly by a dot and a top-level
# domain ("example.com", "evil.se").  Real names have dots after initials and
# abbreviations ("A.B. Svensson", "J.R.R. Tolkien", "Dr. Ali", "St. Clair", even
# "Dr.Ali" without the space): a single letter before or after a dot, or a word that is
# not a top-level domain, is no address.  The dot may be one of the full stops a
# browser reads as a dot in a host name (U+3002, U+FF0E, U+FF61).
_TLDS = (
    "com|net|org|info|biz|xyz|top|site|online|app|dev|page|link|click|shop|store|club|"
    "live|life|pro|mobi|icu|buzz|lol|fun|win|vip|work|tech|space|website|blog|cloud|"
    "email|news|today|world|ink|me|io|co|ly"
)


def _address_pattern(word: str, letter: str) -> str:
    r"""The pattern above, from the character classes of one regex dialect.

    ``word`` goes inside brackets (a letter, digit or underscore: Python's ``\w``),
    ``letter`` is a class of its own; Python's ``re`` and the browser's ``RegExp`` (flag
    ``u``) spell them differently, the rest is the same, so the tablet checks what the
    server checks.
    """
    dot = "[.\u3002\uff0e\uff61]"
    label = f"[{word}-]"
    end = f"(?![{word}-])"
    return "|".join(
        [
            "://",
            f"www{dot}",
            "[@\uff20]",
            f"{label}{dot}(?:{label}+{dot})*{letter}{{2,}}/",
            f"{label}+{dot}{label}{{2,}}{dot}{letter}{{2,}}{end}",
            f"{label}{{2}}{dot}(?:{_TLDS}|[a-z]{{2}}){end}",
        ]
    )


ADDRESS = re.compile(_address_pattern(r"\w", r"[^\W\d_]"), re.IGNORECASE)
# The same for the tablet's script, which checks a name before queueing it offline.
CLIENT_ADDRESS_PATTERN = _address_pattern(r"\p{L}\p{N}_", r"\p{L}")


# The longest name any form takes (their Length validators).  The pattern's cost grows
# with the square of the length of a run of letters and dots (a 60,000-character name,
# within a request's size, would take minutes): a longer name is refused for its length
# and never searched.
MAX_NAME_LENGTH = 200  # the forms' messages say "högst 200 tecken"


def has_address(name: str) -> bool:
    """Whether ``name`` holds a web or e-mail address; for names of at most
    ``MAX_NAME_LENGTH`` characters (see there)."""
    return ADDRESS.search(name) is not None


class NoAddress:
    """Refuses a name that holds a web or e-mail address (see ``ADDRESS``).

    A name longer than ``MAX_NAME_LENGTH`` is left to the field's ``Length`` validator.
    """

    client_pattern = CLIENT_ADDRESS_PATTERN

    def __init__(self, message: str | None = None) -> None:
        if message is None:
            message = _l("Skriv bara ditt namn, utan webbadress eller e-postadress.")
        self.message = message

    def __call__(self, form: BaseForm, field: Field) -> None:
        name = field.data
        if name and len(name) <= MAX_NAME_LENGTH and has_address(name):
            raise ValidationError(self.message)
