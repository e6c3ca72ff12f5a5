"""What makes an organiser's password too easy to guess (accounts.py applies it).

Length first; then the handful of passwords every guesser tries first, and the
account's own address and name, which anyone who knows her would try.
"""

from __future__ import annotations

import re

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000

# What comes first in every published list of leaked passwords (once twelve characters
# are required: these words with digits or signs around them, or repeated), Swedish
# ones, and the names of this service and its city.  Short on purpose: a guesser tries
# these first; anything rarer is up to the length.  No dependency for a list this size.
_COMMON_WORDS = frozenset(
    {
        "password", "passw0rd", "lösenord", "losenord", "admin", "administrator",
        "welcome", "välkommen", "valkommen", "letmein", "iloveyou", "qwerty", "qwertz",
        "azerty", "monkey", "dragon", "football", "sunshine", "princess", "shadow",
        "master", "superman", "trustno", "abcdef", "secret", "hemligt", "sommar",
        "vinter", "hösten", "våren", "malmö", "malmo", "sverige", "sweden", "initiativ",
        "malmöinitiativ", "rosengård",
    }
)  # fmt: skip
# Runs along the digits, the alphabet and a Swedish keyboard, and the zigzags people
# type on one: a password that is a piece of one is no secret.
_RUNS = (
    "01234567890123456789",
    "98765432109876543210",
    "abcdefghijklmnopqrstuvwxyzåäö",
    "qwertyuiopåasdfghjklöäzxcvbnm",
    "1q2w3e4r5t6y7u8i9o0p",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm",
    "zaq12wsxcde34rfvbgt56yhnmju78",
    "qazwsxedcrfvtgbyhnujmikolp",
)
_AROUND = "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _is_common(password: str) -> bool:
    text = password.casefold()
    squeezed = text.replace(" ", "")
    # One piece said again and again (aaaaaaaaaaaa, hejhejhejhej, trustno1trustno1): a
    # text is a repetition exactly when it occurs in itself doubled but not at its ends.
    if squeezed in (squeezed + squeezed)[1:-1]:
        return True
    if any(squeezed in run for run in _RUNS):
        return True
    core = text.strip(_AROUND)  # Password1234! -> password
    if len(core) >= 6 and any(core in run for run in _RUNS):
        return True
    return bool(core) and any(core == word * (len(core) // len(word)) for word in _COMMON_WORDS)


def _personal_words(email: str, name: str) -> set[str]:
    """The account's address, its parts before the @ and the words of its name."""
    email = email.casefold()
    local = email.partition("@")[0]
    words = {email, local, *re.split(r"[._+-]", local), *name.casefold().split()}
    # Shorter ones (Ali, Bo) are parts of too many ordinary words to refuse.
    return {word for word in words if len(word) >= 4}


def refusal(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why ``password`` is refused (in Swedish, for the organisers' forms), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Lösenordet måste vara minst {MIN_PASSWORD_LENGTH} tecken långt."
    if len(password) > MAX_PASSWORD_LENGTH:
        return "Lösenordet är för långt."
    if _is_common(password):
        return (
            "Lösenordet är för vanligt och gissas lätt. Välj ett annat, till exempel en "
            "mening med flera ord."
        )
    text = password.casefold()
    if any(word in text for word in _personal_words(email, name)):
        return "Lösenordet får inte innehålla kontots e-postadress eller namn."
    return None
