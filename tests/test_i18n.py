"""Languages: complete catalogs, negotiation, right-to-left, emails in the signer's
language, Swedish fallback for initiative texts, and new languages without code changes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel import Locale, support
from babel.lists import format_list
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from flask_babel import get_locale
from markupsafe import escape

from initiatives import catalogs, i18n
from initiatives.extensions import babel, db
from initiatives.i18n import available_locales, native_name, text_direction
from initiatives.models import InitiativeState, Signature
from initiatives.tokens import Purpose, make_token

from .conftest import create_initiative, csrf_token, link_path, links_in, sign_form
from .test_kiosk import enrolled_tablet

REQUIRED = ("en", "ar", "so", "bs", "fa")
HTML_TAG = re.compile(r'<html lang="([^"]+)" dir="([^"]+)">')
ARABIC_TEXT = {
    "title": "شارع أميرالسغاتان أكثر أمانًا",
    "summary": "معابر آمنة ومسار للدراجات.",
    "body": "نقترح على اللجنة الفنية بناء معابر آمنة.",
}
SWEDISH_TITLE = "Tryggare Amiralsgatan"
PERSIAN_TEXT = {
    "title": "خیابان آمیرالس‌گاتان امن‌تر",
    "summary": "گذرگاه‌های امن و مسیر دوچرخه.",
    "body": "به کمیته‌ی فنی پیشنهاد می‌کنیم گذرگاه‌های امن بسازد.",
}


def html_lang_dir(response) -> tuple[str, str]:
    match = HTML_TAG.search(response.get_data(as_text=True))
    assert match, "no <html lang dir> on the page"
    return match.group(1), match.group(2)


def translated(locale: str, msgid: str) -> str:
    """The catalog's translation of a Swedish string (what the page must show)."""
    message = catalogs.load_catalog(locale).get(msgid)
    assert message is not None and message.string, f"{locale} lacks {msgid!r}"
    return message.string


def escape_html(text: str) -> str:
    return str(escape(text))


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalogs.extract_template()


# --- catalogs ------------------------------------------------------------------------------

# Addresses a message may name: the reserved example domain (RFC 2606: nobody's inbox) and
# the data protection authority's real one.  A made-up example ("namn@exempel.se") may be
# somebody's domain: a resident who copies it sends mail there.
ADDRESS = re.compile(r"[^\s@,;:()<>]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
NAMED_DOMAINS = {"example.com", "imy.se"}


@pytest.mark.parametrize("locale", ["sv", *REQUIRED])
def test_example_addresses_are_on_the_reserved_example_domain(locale, template):
    if locale == "sv":
        texts = [text for m in template if m.id for text in catalogs._ids(m)]
    else:
        texts = [
            text for m in catalogs.load_catalog(locale) if m.id for text in catalogs._strings(m)
        ]
    domains = {domain.lower() for text in texts for domain in ADDRESS.findall(text)}
    assert "example.com" in domains  # the form's message names one
    assert domains <= NAMED_DOMAINS, domains - NAMED_DOMAINS


def test_english_arabic_and_somali_catalogs_exist():
    assert set(REQUIRED) <= set(catalogs.catalog_locales())


@pytest.mark.parametrize("locale", catalogs.catalog_locales())
def test_every_string_in_code_and_templates_is_translated(locale, template):
    """Fails on any msgid missing from the catalog, untranslated, fuzzy, or with broken
    placeholders: after changing strings run `make extract-messages`, then translate
    what `make check-translations` lists."""
    problems = catalogs.problems(catalogs.load_catalog(locale), template)
    assert not problems, "\n".join(str(p) for p in problems)


def test_extraction_finds_the_strings_of_forms_errors_mail_and_templates(template):
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template}
    assert {
        "Skriv ditt namn.",  # forms.py, lazy
        "Sidan finns inte",  # errors.py
        "Bekräfta din underskrift: %(title)s",  # mail.py subject
        "Hoppa till innehållet",  # base.html
        "%(num)s dag kvar",  # ngettext in a macro
        "Tillgänglighetsredogörelse",
    } <= ids


def test_the_committed_template_matches_the_code(template):
    with (catalogs.TRANSLATIONS / "messages.pot").open("rb") as fileobj:
        committed = read_po(fileobj)
    assert {m.id for m in committed if m.id} == {m.id for m in template if m.id}, (
        "messages.pot is stale: run `make extract-messages`"
    )


def test_arabic_has_six_plural_forms_and_somali_and_english_two():
    assert catalogs.load_catalog("ar").num_plurals == 6
    assert catalogs.load_catalog("so").num_plurals == 2
    assert catalogs.load_catalog("en").num_plurals == 2


def test_the_persian_catalog_uses_persian_letters_and_two_plural_forms():
    catalog = catalogs.load_catalog("fa")
    assert catalog.num_plurals == 2
    assert str(catalog.plural_expr) == "(n > 1)"
    strings = [s for m in catalog if m.id for s in catalogs._strings(m)]
    # Persian writes ی and ک; the Arabic yeh and kaf (ي ك) look alike but break search.
    assert not [s for s in strings if "\u064a" in s or "\u0643" in s]
    assert any("\u200c" in s for s in strings)  # zero-width non-joiner, as in می‌شود
    # Every entry waits for a native speaker's review, and none is hidden as fuzzy.
    assert all("review: native speaker" in m.user_comments for m in catalog if m.id)
    assert not [m.id for m in catalog if m.id and m.fuzzy]


def _problem_catalog() -> tuple[Catalog, Catalog]:
    template = Catalog(locale=None)
    catalog = Catalog(locale="ar")
    for msgid in ("Namn", "Hej %(name)s,", "Sista dagen", "Fel", "Gammal", "Bra %(x)s"):
        template.add(msgid)
    template.add(("%(num)s dag", "%(num)s dagar"))
    template.add("Saknas")
    catalog.add("Namn", "الاسم", flags=["fuzzy"])
    catalog.add("Hej %(name)s,", "مرحبًا")
    catalog.add("Sista dagen", "")
    catalog.add("Fel", "خطأ 100%")
    catalog.add("Gammal", "قديم")
    catalog.add("Bra %(x)s", "جيد %(y)s")
    catalog.add(("%(num)s dag", "%(num)s dagar"), ("يوم", "يومان"))
    catalog.add("Borttagen", "محذوف")
    return catalog, template


def test_the_checker_reports_each_kind_of_problem():
    catalog, template = _problem_catalog()
    found = {
        (p.msgid, p.reason.split(",")[0].split(":")[0])
        for p in catalogs.problems(*[catalog, template])
    }
    reasons = "\n".join(sorted(f"{m}: {r}" for m, r in found))
    assert ("Namn", "fuzzy") in found, reasons
    assert ("Hej %(name)s,", "translation lacks %(name)s") in found, reasons
    assert ("Sista dagen", "untranslated") in found, reasons
    assert ("Fel", "translation is not a valid format string (write a literal % as %%)") in found
    assert ("Bra %(x)s", "translation lacks %(x)s") in found, reasons
    assert ("Bra %(x)s", "translation has unknown %(y)s") in found, reasons
    assert ("%(num)s dag", "has 2 plural forms") in found, reasons
    assert ("Saknas", "missing") in found, reasons
    assert ("Borttagen", "no longer in the code") in found, reasons
    assert ("Gammal", "untranslated") not in found


def test_check_translations_exits_non_zero_on_problems(capsys, monkeypatch):
    catalog, template = _problem_catalog()
    monkeypatch.setattr(catalogs, "extract_template", lambda: template)
    monkeypatch.setattr(catalogs, "load_catalog", lambda locale: catalog)
    assert catalogs.main(["ar"]) == 1
    assert "fuzzy" in capsys.readouterr().out


# --- negotiation ---------------------------------------------------------------------------


def test_swedish_is_the_default(client):
    assert html_lang_dir(client.get("/")) == ("sv", "ltr")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ar", ("ar", "rtl")),
        ("ar-SE,ar;q=0.9,sv;q=0.5", ("ar", "rtl")),
        ("so-SO", ("so", "ltr")),
        ("en-GB,en;q=0.8", ("en", "ltr")),
        ("fr-FR,fr;q=0.9", ("sv", "ltr")),
        ("de;q=0.9,so;q=0.8,sv;q=0.1", ("so", "ltr")),
        ("en;q=0,so;q=0.1", ("so", "ltr")),  # q=0: not acceptable at all
        # Croatian and Serbian readers read Bosnian better than English or Swedish.
        ("hr-HR,hr;q=0.9,en;q=0.8", ("bs", "ltr")),
        ("sr-Latn-RS,en;q=0.5", ("bs", "ltr")),
        ("en,hr;q=0.5", ("en", "ltr")),  # but the browser's order comes first
        ("prs-AF,en;q=0.5", ("fa", "rtl")),  # Dari readers read Persian
    ],
)
def test_accept_language_chooses_when_there_is_no_cookie(client, header, expected):
    assert html_lang_dir(client.get("/", headers={"Accept-Language": header})) == expected


def test_the_cookie_beats_the_header(client):
    client.set_cookie("lang", "en")
    assert html_lang_dir(client.get("/", headers={"Accept-Language": "ar"})) == ("en", "ltr")


def test_an_unknown_cookie_falls_back_to_the_header(client):
    client.set_cookie("lang", "xx")
    assert html_lang_dir(client.get("/", headers={"Accept-Language": "so"})) == ("so", "ltr")


def test_each_language_is_parsed_once_and_shared_by_every_request(app):
    """Every request asks for its language; parsing it anew each time was a cost per page."""
    chosen = []
    for headers in ({"Accept-Language": "ar"}, {"Cookie": "lang=ar"}, {"Accept-Language": "so"}):
        with app.test_request_context("/", headers=headers):
            chosen.append(get_locale())
    assert [str(locale) for locale in chosen] == ["ar", "ar", "so"]
    assert chosen[0] is chosen[1]


def test_a_browsers_accept_language_is_read_once_for_all_its_requests(client):
    """A browser sends the same header with every request; parsing a typical one took
    more CPU than the rest of choosing the language."""
    i18n._negotiated.cache_clear()
    header = {"Accept-Language": "ar-SE,ar;q=0.9,sv;q=0.8,en-US;q=0.7,en;q=0.6"}
    for _ in range(3):
        assert html_lang_dir(client.get("/", headers=header)) == ("ar", "rtl")
    assert html_lang_dir(client.get("/", headers={"Accept-Language": "so"})) == ("so", "ltr")
    assert i18n._negotiated.cache_info().misses == 2


def test_the_switcher_sets_a_cookie_and_returns_to_the_page(client):
    response = client.get("/lang/ar?next=/privacy")
    assert response.status_code == 303
    assert response.headers["Location"] == "/privacy"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=ar;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/privacy", headers={"Accept-Language": "sv"})
    assert html_lang_dir(page) == ("ar", "rtl")
    assert translated("ar", "Integritet och personuppgifter") in page.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_the_switcher_never_redirects_off_site(client, target):
    response = client.get("/lang/so", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_the_switcher_refuses_unknown_languages(client):
    assert client.get("/lang/xx?next=/").status_code == 404


def test_the_switcher_names_each_language_in_its_own_script(client):
    html = client.get("/").get_data(as_text=True)
    for code, name in (
        ("sv", "Svenska"),
        ("en", "English"),
        ("ar", "العربية"),
        ("so", "Soomaali"),
        ("bs", "Bosanski"),
        ("fa", "فارسی"),
    ):
        link = re.search(rf'<a href="/lang/{code}\?next=[^"]*"[^>]*>([^<]+)</a>', html, re.S)
        assert link and link.group(1).strip() == name
        assert f'lang="{code}" dir="{text_direction(code)}" hreflang="{code}"' in html
    assert 'aria-current="true">Svenska' in html


@pytest.mark.parametrize(
    "path", ["/", "/i/amiralsgatan", "/i/amiralsgatan/thanks", "/privacy", "/accessibility"]
)
def test_arabic_pages_are_right_to_left(client, make_initiative, path):
    make_initiative()
    client.set_cookie("lang", "ar")
    response = client.get(path)
    assert response.status_code == 200
    assert html_lang_dir(response) == ("ar", "rtl")


@pytest.mark.parametrize(
    ("locale", "path", "msgid"),
    [
        ("fa", "/", "Skriv under för ett bättre Rosengård"),
        ("fa", "/i/amiralsgatan", "Gå direkt till formuläret"),
        ("fa", "/privacy", "Dina rättigheter"),
        ("fa", "/accessibility", "Tillgänglighetsredogörelse"),
        ("bs", "/", "Skriv under för ett bättre Rosengård"),
        ("bs", "/i/amiralsgatan", "Skriv under"),
        ("bs", "/i/amiralsgatan", "Jag är folkbokförd i Malmö."),
        ("bs", "/privacy", "Rättslig grund"),
        ("bs", "/accessibility", "Tillgänglighetsredogörelse"),
        ("bs", "/privacy/request", "Vad sparar ni om mig?"),
    ],
)
def test_pages_are_in_the_language_and_its_direction(client, make_initiative, locale, path, msgid):
    make_initiative()
    client.set_cookie("lang", locale)
    response = client.get(path)
    assert response.status_code == 200
    assert html_lang_dir(response) == (locale, text_direction(locale))
    html = response.get_data(as_text=True)
    assert escape_html(translated(locale, msgid)) in html
    assert escape_html(translated(locale, "Hoppa till innehållet")) in html
    assert msgid not in html and "Hoppa till innehållet" not in html


def test_switching_language_after_a_form_error_keeps_the_campaign_tag(client, make_initiative):
    """Scanned a poster (?src=poster), forgot the consent box, then chose Arabic: the
    signature must still count for the poster."""
    make_initiative()
    page = "/i/amiralsgatan?src=poster"
    data = sign_form(name="Yusuf Ahmed", email="yusuf@example.org", src="poster")
    data.pop("consent")
    data["csrf_token"] = csrf_token(client, page)
    error_page = client.post("/i/amiralsgatan/sign", data=data)
    assert error_page.status_code == 400
    link = re.search(r'href="(/lang/ar[^"]*)"', error_page.get_data(as_text=True)).group(1)
    switched = client.get(link.replace("&amp;", "&"), follow_redirects=True)
    html = switched.get_data(as_text=True)
    assert switched.status_code == 200 and html_lang_dir(switched) == ("ar", "rtl")
    hidden = re.search(r'name="src" type="hidden" value="([^"]*)"', html)
    assert hidden and hidden.group(1) == "poster"


def test_the_language_switch_stays_under_the_path_the_site_is_mounted_at(make_app):
    app = make_app(BASE_URL="https://example.org/malmo")
    create_initiative(app)
    client = app.test_client()
    base = "https://example.org/malmo/"
    page = client.get("/i/amiralsgatan?src=poster", base_url=base)
    link = re.search(r'href="(/malmo/lang/ar[^"]*)"', page.get_data(as_text=True)).group(1)
    switched = client.get(link.replace("&amp;", "&").removeprefix("/malmo"), base_url=base)
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/malmo/i/amiralsgatan?src=poster"
    nowhere = client.get("/lang/ar?next=https://evil.example/", base_url=base)
    assert nowhere.headers["Location"] == "/malmo/"


def test_a_persian_browser_gets_persian(client):
    response = client.get("/", headers={"Accept-Language": "fa-IR,fa;q=0.9,en;q=0.5"})
    assert html_lang_dir(response) == ("fa", "rtl")


# --- translated pages, errors and validation ---------------------------------------------


@pytest.mark.parametrize("locale", REQUIRED)
def test_validation_messages_are_in_the_signers_language(client, make_initiative, locale):
    make_initiative()
    client.set_cookie("lang", locale)
    token = csrf_token(client, "/i/amiralsgatan")
    response = client.post("/i/amiralsgatan/sign", data={"csrf_token": token, "email": "x"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for msgid in (
        "Det finns ett problem",
        "Skriv ditt namn.",
        "Skriv en giltig e-postadress, till exempel namn@example.com.",
        "Du behöver vara folkbokförd i Malmö för att skriva under.",
        "Vi behöver ditt samtycke för att ta emot underskriften.",
    ):
        expected = translated(locale, msgid)
        assert str(escape_html(expected)) in html, (locale, msgid)
        assert msgid not in html


@pytest.mark.parametrize(
    ("locale", "path", "status", "msgid"),
    [
        ("ar", "/no-such-page", 404, "Sidan finns inte"),
        ("so", "/no-such-page", 404, "Sidan finns inte"),
        ("en", "/confirm/not-a-token", 400, "Länken är inte giltig."),
        ("ar", "/confirm/not-a-token", 400, "Länken är inte giltig."),
        ("fa", "/no-such-page", 404, "Sidan finns inte"),
        ("fa", "/confirm/not-a-token", 400, "Länken är inte giltig."),
    ],
)
def test_error_pages_are_translated(client, locale, path, status, msgid):
    client.set_cookie("lang", locale)
    response = client.get(path)
    assert response.status_code == status
    assert escape_html(translated(locale, msgid)) in response.get_data(as_text=True)


def test_a_too_large_request_is_refused_in_arabic(make_app, make_initiative):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    client = app.test_client()
    client.set_cookie("lang", "ar")
    response = client.post("/i/amiralsgatan/sign", data={"name": "x" * 4096})
    assert response.status_code == 413
    assert escape_html(translated("ar", "För mycket text")) in response.get_data(as_text=True)


def test_too_many_attempts_are_refused_in_somali(make_app):
    app = make_app(RATELIMIT_ENABLED=True, SIGN_RATE_LIMIT="1 per minute")
    create_initiative(app)
    client = app.test_client()
    client.set_cookie("lang", "so")
    token = csrf_token(client, "/i/amiralsgatan")
    client.post("/i/amiralsgatan/sign", data={"csrf_token": token})
    response = client.post("/i/amiralsgatan/sign", data={"csrf_token": token})
    assert response.status_code == 429
    assert escape_html(translated("so", "För många försök")) in response.get_data(as_text=True)


# --- initiative texts per language ---------------------------------------------------------


def test_a_missing_translation_falls_back_to_swedish_with_a_translated_note(
    client, make_initiative
):
    make_initiative()  # Swedish text only
    client.set_cookie("lang", "ar")
    html = client.get("/i/amiralsgatan").get_data(as_text=True)
    note = translated("ar", "Förslaget finns inte på ditt språk ännu. Här är det på svenska.")
    assert f'<p class="notice" lang="ar" dir="rtl">{note}</p>' in html
    # The Swedish text carries Swedish's language and direction inside the Arabic page.
    assert '<div class="initiative-text" lang="sv" dir="ltr">' in html
    assert '<div class="prose" lang="sv" dir="ltr">' in html
    assert SWEDISH_TITLE in html


def test_a_translated_initiative_text_shows_without_a_note(client, make_initiative):
    make_initiative(
        texts={"sv": {"title": SWEDISH_TITLE, "summary": "s", "body": "b"}, "ar": ARABIC_TEXT}
    )
    client.set_cookie("lang", "ar")
    html = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert ARABIC_TEXT["title"] in html and SWEDISH_TITLE not in html
    assert 'class="notice"' not in html
    assert '<div class="initiative-text">' in html


def test_a_swedish_title_inside_an_arabic_sentence_is_isolated(app, client, make_initiative, sign):
    make_initiative()
    client.set_cookie("lang", "ar")
    sign()
    with app.app_context():
        public_id = db.session.query(Signature.public_id).scalar()
        token = make_token(Purpose.CONFIRM, public_id)
    html = client.get(f"/confirm/{token}").get_data(as_text=True)
    assert f'<bdi lang="sv" dir="ltr">{SWEDISH_TITLE}</bdi>' in html


# --- emails --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "text"), [("ar", ARABIC_TEXT), ("fa", PERSIAN_TEXT), ("bs", None)]
)
def test_a_signer_gets_every_mail_in_the_language_she_used(
    client, make_initiative, sign, deliver, smtp, locale, text
):
    """Right to left where the language is; the Swedish title when it has no text."""
    texts = {"sv": {"title": SWEDISH_TITLE, "summary": "s", "body": "b"}}
    if text:
        texts[locale] = text
    make_initiative(texts=texts)
    title = text["title"] if text else SWEDISH_TITLE
    direction = text_direction(locale)
    client.set_cookie("lang", locale)
    assert sign(name="Šejla Hodžić").status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)

    # Isolated in a right-to-left subject (see the test below).
    shown = f"\u2068{title}\u2069" if direction == "rtl" else title
    subject = translated(locale, "Bekräfta din underskrift: %(title)s") % {"title": shown}
    assert mail["Subject"] == subject
    assert mail["Content-Language"] == locale
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    # The name set apart like the title (see the greeting tests below).
    greeting = translated(locale, "Hej %(name)s,")
    name = "\u2068Šejla Hodžić\u2069" if direction == "rtl" else "Šejla Hodžić"
    assert greeting % {"name": name} in plain
    assert escape_html(greeting) % {"name": "<bdi>Šejla Hodžić</bdi>"} in html
    for msgid in (
        "Din underskrift räknas först när du har bekräftat den. Öppna länken och tryck på knappen:",
        "Du får det här meddelandet för att någon skrev din adress när de skrev under ett "
        "Malmöinitiativ. Var det inte du? Då behöver du inte göra något.",
    ):
        assert translated(locale, msgid) in plain, msgid
    assert translated(locale, "Bekräfta min underskrift") in html
    assert f'<html lang="{locale}" dir="{direction}">' in html
    if direction == "rtl":
        assert f'<div lang="{locale}" dir="rtl"' in html and "text-align:right" in html
    assert "Hej" not in plain and "Bekräfta" not in html and "Öppna" not in plain

    # She confirms from a browser set to Swedish: her thank-you mail is still hers.
    [confirm_url] = [u for u in links_in(mail) if "/confirm/" in u]
    client.set_cookie("lang", "sv")
    path = link_path(confirm_url)
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 303
    deliver()
    [_, thanks] = smtp.wait_for(2)
    assert thanks["Subject"] == translated(locale, "Tack, din underskrift räknas: %(title)s") % {
        "title": shown
    }
    assert thanks["Content-Language"] == locale
    thanks_html = thanks.get_body(preferencelist=("html",)).get_content()
    assert f'<html lang="{locale}" dir="{direction}">' in thanks_html


def test_the_page_behind_a_mail_link_is_in_the_signers_language(
    app, client, make_initiative, sign, deliver, smtp
):
    """She signed in Arabic at the stand and opens the link on a phone set to Swedish:
    the button she must press is in Arabic, and so is what follows."""
    make_initiative(
        texts={"sv": {"title": SWEDISH_TITLE, "summary": "s", "body": "b"}, "ar": ARABIC_TEXT}
    )
    client.set_cookie("lang", "ar")
    assert sign().status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    [confirm_url] = [u for u in links_in(mail) if "/confirm/" in u]
    path = link_path(confirm_url)

    phone = app.test_client()
    headers = {"Accept-Language": "sv-SE,sv;q=0.9"}
    page = phone.get(path, headers=headers)
    html = page.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert translated("ar", "Bekräfta min underskrift") in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    done = phone.post(
        action.replace("&amp;", "&"),
        data={"csrf_token": token},
        headers=headers,
        follow_redirects=True,
    )
    assert '<html lang="ar" dir="rtl">' in done.get_data(as_text=True)
    # The initiative's own page too: the link's language is remembered, as a choice is.
    initiative = phone.get("/i/amiralsgatan", headers=headers).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in initiative

    # A language chosen on this device earlier wins over the link's.
    chosen = app.test_client()
    chosen.set_cookie("lang", "en")
    assert '<html lang="en" dir="ltr">' in chosen.get(path).get_data(as_text=True)
    # A language we do not have is no choice at all.
    unknown = app.test_client()
    other = unknown.get("/i/amiralsgatan?lang=xx", headers=headers)
    assert '<html lang="sv" dir="ltr">' in other.get_data(as_text=True)
    assert unknown.get_cookie("lang") is None


@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_a_latin_title_keeps_its_punctuation_in_a_right_to_left_subject_and_text(
    client, make_initiative, sign, deliver, smtp, locale
):
    """An initiative with no Arabic text shows its Swedish title in the Arabic mail.  The
    HTML part isolates it (<bdi>); the subject and the text part did not, so a mail
    program laid out "Rädda Rosengårdsbadet!" inside the right-to-left sentence as
    "!Rädda Rosengårdsbadet".  First-strong isolates keep the title in one piece."""
    title = "Rädda Rosengårdsbadet!"
    make_initiative(texts={"sv": {"title": title, "summary": "s", "body": "b"}})
    client.set_cookie("lang", locale)
    assert sign(email="amira@example.org").status_code == 303
    client.set_cookie("lang", "sv")
    assert sign(email="sara@example.org").status_code == 303
    deliver()
    rtl, swedish = sorted(smtp.wait_for(2), key=lambda m: str(m["To"]))
    isolated = f"\u2068{title}\u2069"
    assert rtl["Subject"] == translated(locale, "Bekräfta din underskrift: %(title)s") % {
        "title": isolated
    }
    plain = rtl.get_body(preferencelist=("plain",)).get_content()
    sentence = translated(locale, "Tack för att du vill skriva under: %(title)s")
    assert sentence % {"title": isolated} in plain
    # Left to right, the title already reads in order: the mail stays as it was.
    assert swedish["Subject"] == f"Bekräfta din underskrift: {title}"
    assert "\u2068" not in swedish.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_a_latin_name_keeps_its_punctuation_in_a_right_to_left_greeting(
    client, make_initiative, sign, deliver, smtp, locale
):
    """The greeting names the signer as she typed it: "Amira H." inside a Persian
    greeting was laid out ".Amira H", as the title was before it was isolated.  The
    text part isolates the name as it does the title; the HTML part in <bdi>."""
    make_initiative()
    client.set_cookie("lang", locale)
    assert sign(name="Amira H.").status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    [confirm_url] = [u for u in links_in(mail) if "/confirm/" in u]
    path = link_path(confirm_url)
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 303
    deliver()
    # The confirmation mail is rendered once per language with a stand-in for the name
    # (mail.SKELETON_KINDS); the thank-you mail is rendered for her alone.
    for sent in smtp.wait_for(2):
        plain = sent.get_body(preferencelist=("plain",)).get_content()
        html = sent.get_body(preferencelist=("html",)).get_content()
        greeting = translated(locale, "Hej %(name)s,")
        assert greeting % {"name": "\u2068Amira H.\u2069"} in plain
        assert greeting % {"name": "<bdi>Amira H.</bdi>"} in html


def test_a_name_in_arabic_letters_is_set_apart_in_a_left_to_right_mail(
    client, make_initiative, sign, deliver, smtp
):
    """In a Swedish mail a name in Arabic letters ending in a bracket, "أميرة (أم علي)",
    would have its bracket moved to its start: the HTML part isolates it.  The text part
    of a left-to-right mail is left as it was (as its title is)."""
    make_initiative()
    name = "أميرة (أم علي)"
    assert sign(name=name).status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    assert f"Hej {name}," in mail.get_body(preferencelist=("plain",)).get_content()
    assert f"Hej <bdi>{name}</bdi>," in mail.get_body(preferencelist=("html",)).get_content()


@pytest.mark.parametrize("locale", ["so", "en"])
def test_confirmation_mail_follows_the_signers_language(
    client, make_initiative, sign, deliver, smtp, locale
):
    make_initiative()
    client.set_cookie("lang", locale)
    sign()
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail["Content-Language"] == locale
    expected = translated(locale, "Bekräfta din underskrift: %(title)s") % {"title": SWEDISH_TITLE}
    assert mail["Subject"] == expected
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert f'<html lang="{locale}" dir="ltr">' in html


class _BreaksInsideWords(HTMLParser):
    """The text of each element whose style lets a line break inside a word."""

    VOID = frozenset({"br", "hr", "img", "meta", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside such an element: how deep
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif "word-break" in (dict(attrs).get("style") or ""):
            self.depth = 1
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.texts[-1] += data


@pytest.mark.parametrize("locale", ["so", "fa", "sv"])
def test_only_the_link_under_the_mail_button_may_break_inside_a_word(
    client, make_initiative, sign, deliver, smtp, locale
):
    """The link under the button is long and may break anywhere; the sentence above it
    may not: at 360 px it read "koobi|yee" in Somali and "کن|ید" in Persian, a joined
    word split in two."""
    make_initiative()
    client.set_cookie("lang", locale)
    sign()
    deliver()
    [mail] = smtp.wait_for(1)
    [confirm_url] = [u for u in links_in(mail) if "/confirm/" in u]
    parser = _BreaksInsideWords()
    parser.feed(mail.get_body(preferencelist=("html",)).get_content())
    assert parser.texts == [confirm_url]


@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_a_right_to_left_data_report_keeps_the_postcode_in_reading_order(
    client, make_initiative, sign, deliver, smtp, locale
):
    make_initiative()
    sign(postcode="212 14")
    deliver()
    smtp.clear()
    client.set_cookie("lang", locale)
    token = csrf_token(client, "/privacy/request")
    data = {"csrf_token": token, "email": "amira@example.org"}
    assert client.post("/privacy/request", data=data).status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    assert mail["Subject"] == translated(locale, "Det här sparar vi om din e-postadress")
    assert mail["Content-Language"] == locale
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    # Right to left, "212 14" with a plain space would be shown as "14 212".
    assert f"{translated(locale, 'Postnummer:')} 212\u00a014" in text
    assert '<span dir="ltr">212 14</span>' in html
    assert translated(locale, "Hej,") in text and "Hej," not in text
    # The parts of the "signed" line are separated the Arabic-script way, not with ", ".
    signed = translated(locale, "Skrev under:")
    [line] = [row for row in text.splitlines() if row.startswith(signed)]
    assert f"\u060c {translated(locale, 'på webben')}\u060c " in line
    assert ", " not in line
    assert f"\u060c {translated(locale, 'på webben')}\u060c " in html
    # The gap between a label and its value is on the label's inner side, the left in a
    # right-to-left table (mail programs do not all know "start" or logical padding).
    labels = re.findall(r'<th style="([^"]*)"', html)
    assert labels and all("text-align:right" in s and "padding:4px 0 4px 12px" in s for s in labels)


@pytest.mark.parametrize("locale", ["ar", "fa"])
def test_a_right_to_left_data_report_keeps_an_address_that_starts_with_digits_in_order(
    client, make_initiative, sign, deliver, smtp, locale
):
    # Right to left, "2010_ali@example.org" with nothing around it is shown as
    # "example.org@2010_ali": the digits and the "_" and "@" next to them take the
    # sentence's direction.
    address = "2010_ali@example.org"
    make_initiative()
    sign(email=address)
    deliver()
    smtp.clear()
    client.set_cookie("lang", locale)
    token = csrf_token(client, "/privacy/request")
    data = {"csrf_token": token, "email": address}
    assert client.post("/privacy/request", data=data).status_code == 303
    deliver()
    [mail] = smtp.wait_for(1)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    # In the opening sentence and in the signature's details.
    assert html.count(f'<span dir="ltr">{address}</span>') == 2
    assert text.count(f"\u200e{address}") == 2
    assert f"{translated(locale, 'E-postadress:')} \u200e{address}" in text


# --- the kiosk -----------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "name"), [("fa", "فارسی"), ("bs", "Bosanski")])
def test_the_kiosk_offers_each_language_in_its_own_script_and_signs_in_it(
    app, make_initiative, locale, name
):
    make_initiative()
    tablet = enrolled_tablet(app)
    start = tablet.client.get("/kiosk").get_data(as_text=True)
    direction = text_direction(locale)
    assert (
        f'<a class="kiosk-language" href="/kiosk/sign/{locale}" lang="{locale}" '
        f'dir="{direction}" hreflang="{locale}" data-replace>{name}</a>'
    ) in start
    response = tablet.client.get(f"/kiosk/sign/{locale}")
    assert response.status_code == 200
    assert html_lang_dir(response) == (locale, direction)
    html = response.get_data(as_text=True)
    privacy_note = "Nästa person kan inte se det du skriver: formuläret töms när du är klar."
    assert escape_html(translated(locale, privacy_note)) in html
    assert translated(locale, "Om dina uppgifter") in html and "Om dina uppgifter" not in html


# --- a new language without code changes ---------------------------------------------------


@pytest.fixture
def translations_copy(app, tmp_path: Path) -> Iterator[Path]:
    """A copy of the catalogs to add a language to.

    Flask-Babel caches loaded catalogs per process, by language only: cleared before and
    after, so no other test sees (or hides) the language added here.
    """
    directory = tmp_path / "translations"
    shutil.copytree(catalogs.TRANSLATIONS, directory)
    with app.app_context():
        babel.domain_instance.cache.clear()
    yield directory
    with app.app_context():
        babel.domain_instance.cache.clear()


def pybabel(*args: str) -> None:
    executable = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(executable), *args], check=True, capture_output=True)


def test_adding_a_catalog_adds_the_language(make_app, make_initiative, translations_copy):
    """Turkish, the way the README says: pybabel init, translate, compile."""
    pot = translations_copy / "messages.pot"
    pybabel("init", "-i", str(pot), "-d", str(translations_copy), "-l", "tr")
    po_path = translations_copy / "tr" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fileobj:
        catalog = read_po(fileobj, locale="tr")
    catalog.get("Skriv under").string = "İmzala"
    catalog.get("Välj språk").string = "Dil seçin"
    with po_path.open("wb") as fileobj:
        write_po(fileobj, catalog)
    pybabel("compile", "-d", str(translations_copy))

    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(translations_copy))
    make_initiative()
    client = app.test_client()
    with app.app_context():
        assert "tr" in available_locales()
    response = client.get("/i/amiralsgatan", headers={"Accept-Language": "tr-TR,tr;q=0.9"})
    assert html_lang_dir(response) == ("tr", "ltr")
    html = response.get_data(as_text=True)
    assert "İmzala" in html and 'aria-label="Dil seçin"' in html
    assert 'hreflang="tr"' in html and native_name("tr") in html
    assert client.get("/lang/tr?next=/").headers["Set-Cookie"].startswith("lang=tr;")
    # The checker sees what is left to translate in the new catalog.
    problems = catalogs.problems(
        catalogs.load_catalog("tr", translations_copy), catalogs.extract_template()
    )
    assert any(p.reason == "untranslated" for p in problems)
    assert not any(p.msgid == "Skriv under" for p in problems)


def test_a_right_to_left_catalog_is_right_to_left_without_code_changes(make_app, translations_copy):
    shutil.copytree(translations_copy / "ar", translations_copy / "ur")
    po_path = translations_copy / "ur" / "LC_MESSAGES" / "messages.po"
    po_path.write_text(
        po_path.read_text(encoding="utf-8").replace("Language: ar", "Language: ur"),
        encoding="utf-8",
    )
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(translations_copy))
    response = app.test_client().get("/", headers={"Accept-Language": "ur"})
    assert html_lang_dir(response) == ("ur", "rtl")
    assert 'lang="ur" dir="rtl" hreflang="ur"' in response.get_data(as_text=True)


def test_a_folder_that_is_not_a_language_is_ignored(make_app, translations_copy):
    (translations_copy / "not-a-locale" / "LC_MESSAGES").mkdir(parents=True)
    (translations_copy / "not-a-locale" / "LC_MESSAGES" / "messages.po").write_text("")
    (translations_copy / "not-a-locale" / "LC_MESSAGES" / "messages.mo").write_bytes(b"")
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(translations_copy))
    with app.app_context():
        assert "not-a-locale" not in available_locales()
        assert set(available_locales()) == {"sv", *catalogs.catalog_locales()}
    assert app.test_client().get("/").status_code == 200


def test_closed_initiative_state_is_translated(client, make_initiative):
    make_initiative(state=InitiativeState.CLOSED)
    client.set_cookie("lang", "ar")
    html = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert translated("ar", "Insamlingen är avslutad. Tack till alla som skrev under!") in html


def test_accessibility_statement_names_the_languages_there_are(client, make_app, translations_copy):
    """The list follows the catalogs, in the reader's language: no string to forget."""
    client.set_cookie("lang", "en")
    html = client.get("/accessibility").get_data(as_text=True)
    names = [Locale.parse(code).get_display_name("en") for code in available_locales_of(client)]
    assert f"read and sign in {format_list(names, locale='en')}," in html

    shutil.copytree(translations_copy / "so", translations_copy / "tr")
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(translations_copy))
    other = app.test_client()
    html = other.get("/accessibility", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "och turkiska," in html


def available_locales_of(client) -> tuple[str, ...]:
    with client.application.app_context():
        return available_locales()


# --- Bosnian: a language added by its catalog alone -----------------------------------------


def test_a_bosnian_browser_gets_bosnian_latin_script_and_the_bosnian_words(client, make_initiative):
    make_initiative()
    response = client.get("/i/amiralsgatan", headers={"Accept-Language": "bs-BA,bs;q=0.9"})
    assert html_lang_dir(response) == ("bs", "ltr")
    html = response.get_data(as_text=True)
    # Latin script, ijekavian: "potpis", "prijedlog", never the Swedish button.
    assert '<button type="submit" class="button">Potpišite</button>' in html
    assert "Prijedlog" in html and "Skriv under" not in html


def test_bosnian_has_three_plural_forms_one_few_and_other():
    assert catalogs.load_catalog("bs").num_plurals == 3
    bosnian = support.Translations.load(str(catalogs.TRANSLATIONS), ["bs"])
    assert isinstance(bosnian, support.Translations), "bs is not compiled: make translations"

    def linked(n: int) -> str:
        singular = "Vi har %(num)s underskrift kopplad till adressen:"
        plural = "Vi har %(num)s underskrifter kopplade till adressen:"
        return bosnian.ungettext(singular, plural, n) % {"num": n}

    for n in (1, 21, 101):
        assert linked(n) == f"Imamo {n} potpis povezan s ovom adresom:"
    for n in (2, 4, 22, 104):
        assert linked(n) == f"Imamo {n} potpisa povezana s ovom adresom:"
    for n in (0, 5, 11, 12, 14, 25, 111):
        assert linked(n) == f"Imamo {n} potpisa povezanih s ovom adresom:"


def test_bosnian_e_mail_keeps_its_hyphen_on_the_line():
    """A line ending in "E-" with "mail" on the next reads as two words on a phone, so
    Bosnian writes "e-mail" with the non-breaking hyphen U+2011 in every string, the
    pages' (tests/functional/test_phone_browser.py checks it drawn and unbroken) and the
    mails' alike: an HTML mail on a phone breaks lines as a page does."""
    plain = []
    for message in catalogs.load_catalog("bs"):
        if message.id:
            plain += [s for s in catalogs._strings(message) if re.search(r"(?i)\be-mail", s)]
    assert not plain, "\n".join(plain)


def test_the_bosnian_accessibility_statement_lists_bosnian_among_the_languages(client):
    client.set_cookie("lang", "bs")
    html = client.get("/accessibility").get_data(as_text=True)
    names = [Locale.parse(code).get_display_name("bs") for code in available_locales_of(client)]
    assert "bosanski" in names
    listed = translated("bs", "läsa och skriva under på %(languages)s,") % {
        "languages": format_list(names, locale="bs")
    }
    assert listed.startswith("čitati i potpisivati na ovim jezicima: švedski, engleski")
    assert escape_html(listed) in html


def test_a_catalog_that_was_never_compiled_is_not_offered(make_app, translations_copy):
    """Its pages would be Swedish under lang="tr", read aloud in the wrong voice."""
    shutil.copytree(translations_copy / "so", translations_copy / "tr")
    (translations_copy / "tr" / "LC_MESSAGES" / "messages.mo").unlink()
    app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(translations_copy))
    with app.app_context():
        assert "tr" not in available_locales() and "so" in available_locales()
    response = app.test_client().get("/", headers={"Accept-Language": "tr"})
    assert html_lang_dir(response) == ("sv", "ltr")


def test_the_accessibility_statement_points_to_digg_only_for_a_public_body(client, make_app):
    """Digg supervises the law for public bodies; a neighbourhood network is not one."""
    law = "Lagen om tillgänglighet till digital offentlig service gäller myndigheter"
    html = client.get("/accessibility").get_data(as_text=True)
    assert law in html and "Digg" not in html
    client.set_cookie("lang", "fa")
    assert "قانون دسترس‌پذیری" in client.get("/accessibility").get_data(as_text=True)

    public = make_app(ORGANISATION_PUBLIC_SECTOR=True).test_client()
    public.set_cookie("lang", "fa")
    html = public.get("/accessibility").get_data(as_text=True)
    digg = translated(
        "fa",
        "Du kan också kontakta Myndigheten för digital förvaltning (Digg) om du inte är nöjd "
        "med hur vi hanterar ditt ärende.",
    )
    assert escape_html(digg) in html and "قانون دسترس‌پذیری" not in html
