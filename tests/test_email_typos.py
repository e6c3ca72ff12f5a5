"""A likely typo in the domain of a common mail provider, and only that, gets a suggestion."""

from __future__ import annotations

import pytest

from initiatives.email_typos import LOOKALIKES, PROVIDERS, distance, suggestion, within_one

# Also the tablet script's table (tests/functional/test_kiosk_browser.py): the same answers.
TYPOS = [
    ("amira@gmial.com", "amira@gmail.com"),
    ("amira@gamil.com", "amira@gmail.com"),
    ("amira@gmai.com", "amira@gmail.com"),
    ("amira@gmaill.com", "amira@gmail.com"),
    ("amira@gnail.com", "amira@gmail.com"),
    ("amira@gmail.con", "amira@gmail.com"),
    ("amira@gmail.co", "amira@gmail.com"),
    ("amira@gmail.cm", "amira@gmail.com"),
    ("amira@gmail.comm", "amira@gmail.com"),
    ("amira@gmail.cmo", "amira@gmail.com"),
    ("amira@gmailc.om", "amira@gmail.com"),
    ("amira@gmial.con", "amira@gmail.com"),
    ("amira@hotmail.con", "amira@hotmail.com"),
    ("amira@hotmial.com", "amira@hotmail.com"),
    ("amira@hotmai.com", "amira@hotmail.com"),
    ("amira@hormail.se", "amira@hotmail.se"),
    ("amira@hotmail.sr", "amira@hotmail.se"),
    ("amira@hotmail.s", "amira@hotmail.se"),
    ("amira@hotmial.co", "amira@hotmail.com"),
    ("amira@outlok.com", "amira@outlook.com"),
    ("amira@outlook.sw", "amira@outlook.se"),
    ("amira@live.sr", "amira@live.se"),
    ("amira@live.con", "amira@live.com"),
    ("amira@yaho.com", "amira@yahoo.com"),
    ("amira@yahooo.se", "amira@yahoo.se"),
    ("amira@iclod.com", "amira@icloud.com"),
    ("amira@icloud.cm", "amira@icloud.com"),
    ("amira@me.con", "amira@me.com"),
    ("amira@msn.co", "amira@msn.com"),
    ("amira@telia.con", "amira@telia.com"),
    ("amira@protonmial.com", "amira@protonmail.com"),
    ("amira@proton.mr", "amira@proton.me"),
    # The domain's case does not matter; the part before the @ stays as typed.
    ("Amira.Hassan+x@GMIAL.COM", "Amira.Hassan+x@gmail.com"),
    ("amira@Hotmail.Con", "amira@hotmail.com"),
]
NOT_TYPOS = [
    # The providers themselves, in any case.
    *(f"amira@{domain}" for domain in PROVIDERS),
    "amira@GMAIL.COM",
    "amira@Hotmail.Se",
    # Real domains one or two letters from a provider: never "corrected".
    "amira@mail.com",
    "amira@email.com",
    "amira@ymail.com",
    "amira@gmx.com",
    "amira@gmx.se",
    "amira@gmx.net",
    "amira@googlemail.com",
    "amira@live.co.uk",
    "amira@hotmail.co.uk",
    "amira@yahoo.co.uk",
    "amira@outlook.dk",
    "amira@hotmail.de",
    "amira@hotmail.be",
    "amira@hotmail.es",
    "amira@hotmail.ca",
    "amira@hotmail.dk",
    "amira@hotmail.no",
    "amira@live.de",
    "amira@live.dk",
    "amira@live.be",
    "amira@live.ie",
    "amira@outlook.de",
    "amira@outlook.es",
    "amira@outlook.sa",
    "amira@outlook.sk",
    "amira@yahoo.de",
    "amira@yahoo.es",
    "amira@yahoo.ca",
    "amira@mac.com",
    "amira@pm.me",
    "amira@protonmail.ch",
    # Not close to any provider.
    "amira@malmo.se",
    "amira@skola.malmo.se",
    "amira@example.org",
    "amira@example.com",
    "amira@telia.se",
    "amira@bredband.net",
    "amira@comhem.se",
    # Short names: one letter off is another name, not a typo.
    "amira@mo.com",
    "amira@msm.com",
    "amira@mn.com",
    "amira@lime.se",
    "amira@life.se",
    "amira@love.com",
    # Not an address at all: nothing to suggest.
    "",
    "amira",
    "amira@",
    # Closer to a real look-alike than to any provider.
    "amira@email.con",
    "amira@ymail.con",
    "amira@mail.con",
]


@pytest.mark.parametrize(("typed", "suggested"), TYPOS)
def test_a_likely_typo_gets_the_providers_domain(typed: str, suggested: str) -> None:
    assert suggestion(typed) == suggested


@pytest.mark.parametrize("address", NOT_TYPOS)
def test_a_real_or_unrelated_domain_gets_no_suggestion(address: str) -> None:
    assert suggestion(address) is None


def test_no_look_alike_is_itself_a_provider() -> None:
    assert not set(LOOKALIKES) & set(PROVIDERS)


@pytest.mark.parametrize(
    ("a", "b", "edits"),
    [
        ("gmail", "gmail", 0),
        ("gmial", "gmail", 1),  # two letters swapped: one edit
        ("gmai", "gmail", 1),
        ("gmaill", "gmail", 1),
        ("gnail", "gmail", 1),
        ("gamil", "gmail", 1),
        ("hotmail", "hotnial", 2),
        ("", "com", 3),
    ],
)
def test_distance_counts_a_swap_of_two_letters_as_one_edit(a: str, b: str, edits: int) -> None:
    assert distance(a, b) == edits
    assert distance(b, a) == edits


WORDS = ["", "a", "ab", "ba", "abc", "acb", "bac", "gmail", "gmial", "gmai", "gmaill", "gnail",
         "gamil", "hotmail", "hotmial", "outlook", "outlok", "com", "con", "co", "cmo", "se",
         "sr", "s", "me", "msn", "example", "aab", "aba", "abab", "baba"]  # fmt: skip


@pytest.mark.parametrize("a", WORDS)
def test_within_one_agrees_with_the_full_distance(a: str) -> None:
    """The one-pass check the rule uses agrees with the edit distance on every pair."""
    for b in WORDS:
        assert within_one(a, b) is (distance(a, b) <= 1), (a, b)
