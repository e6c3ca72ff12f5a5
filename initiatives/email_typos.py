"""A likely typo in the domain of a common mail provider ("gmial.com", "hotmail.con").

A signer whose address has such a typo never gets the confirmation mail, so the
signature never counts.  The sign forms point it out once and the signer chooses; this
module only finds it.  It is deliberately narrow: only domains of the providers most
used in Malmö, only one edit away (one in the name and one in the ending for a name of
five letters or more), and never a real domain that merely looks like one of them.
The tablet's script applies the same rule (static/js/kiosk-sign.js) to the same lists,
which the sign screen sends it.
"""

from __future__ import annotations

PROVIDERS = (
    "gmail.com",
    "hotmail.com",
    "hotmail.se",
    "outlook.com",
    "outlook.se",
    "live.se",
    "live.com",
    "yahoo.com",
    "yahoo.se",
    "icloud.com",
    "me.com",
    "msn.com",
    "telia.com",
    "protonmail.com",
    "proton.me",
)

# Real mail domains close to a provider: never corrected, and a typed domain closer to
# one of them than to any provider ("email.con") gets no suggestion either.
LOOKALIKES = (
    "mail.com",
    "email.com",
    "ymail.com",
    "googlemail.com",
    "gmx.com",
    "gmx.se",
    "gmx.net",
    "gmx.de",
    "mac.com",
    "pm.me",
    "protonmail.ch",
    "hotmail.co.uk",
    "live.co.uk",
    "yahoo.co.uk",
    "hotmail.be",
    "hotmail.ca",
    "hotmail.de",
    "hotmail.dk",
    "hotmail.es",
    "hotmail.fi",
    "hotmail.fr",
    "hotmail.it",
    "hotmail.nl",
    "hotmail.no",
    "live.at",
    "live.be",
    "live.ca",
    "live.de",
    "live.dk",
    "live.es",
    "live.fi",
    "live.fr",
    "live.ie",
    "live.it",
    "live.nl",
    "live.no",
    "outlook.be",
    "outlook.de",
    "outlook.dk",
    "outlook.es",
    "outlook.fr",
    "outlook.ie",
    "outlook.it",
    "outlook.sa",
    "outlook.sg",
    "outlook.sk",
    "yahoo.ca",
    "yahoo.de",
    "yahoo.dk",
    "yahoo.es",
    "yahoo.fr",
    "yahoo.ie",
    "yahoo.it",
    "yahoo.no",
)

# A shorter name ("me", "msn", "live") is one letter from many other real names
# ("mac", "life"): only its ending is corrected.
NAME_EDITS_FROM = 5


def distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b``: a letter added, dropped or changed, or two neighbouring
    letters swapped ("gmial" for "gmail"), each one edit (optimal string alignment)."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


def within_one(a: str, b: str) -> bool:
    """``distance(a, b) <= 1``, in one pass over the two strings.

    Every signer's address that is not a provider's is compared with every provider
    (most of them unrelated): the full table cost about half a millisecond a sign POST,
    a sixth of its CPU."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    return (
        a[i + 1 :] == b[i + 1 :]  # one letter changed
        or a[i + 1 :] == b[i:]  # one dropped
        or a[i:] == b[i + 1 :]  # one added
        or (a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :])  # two swapped
    )


def _close(domain: str, provider: str) -> bool:
    name, _, ending = domain.rpartition(".")
    provider_name, _, provider_ending = provider.rpartition(".")
    if name == provider_name:
        return within_one(ending, provider_ending)
    if len(provider_name) < NAME_EDITS_FROM:
        return False
    if within_one(domain, provider):  # also a misplaced dot: "gmailc.om"
        return True
    return within_one(name, provider_name) and within_one(ending, provider_ending)


def suggested_domain(domain: str) -> str | None:
    """The provider's domain ``domain`` is likely a typo of, else None."""
    domain = domain.lower()
    if not domain or domain in PROVIDERS or domain in LOOKALIKES:
        return None
    scored = sorted((distance(domain, p), p) for p in PROVIDERS if _close(domain, p))
    if not scored or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None  # none, or two equally likely
    edits, provider = scored[0]
    if any(_nearer(domain, real, edits) for real in LOOKALIKES):
        return None
    return provider


def _nearer(domain: str, real: str, edits: int) -> bool:
    """Whether ``real`` is fewer than ``edits`` edits from ``domain`` (one edit away, the
    nearest a look-alike can be, is checked without the full table)."""
    if edits <= 1:
        return False  # nearer is the same domain, which was let through already
    if edits == 2:
        return within_one(domain, real)
    return distance(domain, real) < edits


def suggestion(address: str) -> str | None:
    """``address`` with its domain corrected, if that domain is a likely typo of a
    common provider's; the part before the @ stays exactly as typed."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return None
    corrected = suggested_domain(domain)
    return f"{local}@{corrected}" if corrected else None
