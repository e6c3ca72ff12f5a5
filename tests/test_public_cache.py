"""Readers are served from a short-lived in-process cache, and it never shows wrong data.

Each visitor still gets a CSRF token of their own, a change committed by this process
shows at once, a change made elsewhere within PUBLIC_CACHE_SECONDS, and a visitor who
may see a personal page (anything in the session, an unknown cookie) bypasses it.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import template_rendered
from flask_wtf.i18n import translations

from initiatives import i18n, public_cache
from initiatives.extensions import db
from initiatives.models import Initiative, Signature
from initiatives.signature_states import confirmed_count
from initiatives.tokens import Purpose, make_token

from .conftest import CSRF_RE, csrf_token


def count_on_page(client, slug="amiralsgatan") -> int:
    page = client.get(f"/i/{slug}").get_data(as_text=True)
    return int(re.search(r'<p class="progress-count"><strong>(\d+)</strong>', page).group(1))


def count_in_json(client, slug="amiralsgatan") -> int:
    return client.get(f"/api/initiatives/{slug}").get_json()["confirmed"]


def set_count_behind_the_apps_back(app, value: int) -> None:
    """As another process would: a write this process's session never sees."""
    with app.app_context():
        # Connection.execute, unlike Session.execute, passes no session event.
        db.session.connection().execute(
            sa.text("UPDATE initiatives SET confirmed_count = :v"), {"v": value}
        )
        db.session.commit()


def test_a_cached_page_gives_every_visitor_a_token_of_their_own(app, make_initiative):
    make_initiative()
    first, second = app.test_client(), app.test_client()
    token_one = csrf_token(first, "/i/amiralsgatan")
    token_two = csrf_token(second, "/i/amiralsgatan")  # served from the cache
    assert token_one != token_two
    assert "\x00" not in second.get("/i/amiralsgatan").get_data(as_text=True)

    # Each token works for its own visitor, and not for the other.
    form = {"name": "Hodan Ali", "resident": "y", "consent": "y"}
    ok = second.post(
        "/i/amiralsgatan/sign", data={**form, "email": "hodan@example.org", "csrf_token": token_two}
    )
    assert ok.status_code == 303
    crossed = second.post(
        "/i/amiralsgatan/sign", data={**form, "email": "other@example.org", "csrf_token": token_one}
    )
    assert crossed.status_code == 400


def test_a_confirmation_in_this_process_shows_at_once(app, client, make_initiative, sign):
    make_initiative()
    assert count_on_page(client) == 0 and count_in_json(client) == 0  # now cached
    sign()
    with app.app_context():
        signature = db.session.scalars(sa.select(Signature)).one()
        token = make_token(Purpose.CONFIRM, signature.public_id)
    confirm = f"/confirm/{token}"
    assert client.post(confirm, data={"csrf_token": csrf_token(client, confirm)}).status_code == 303
    assert count_on_page(client) == 1
    assert count_in_json(client) == 1
    with app.app_context():
        initiative = db.session.scalars(sa.select(Initiative)).one()
        assert confirmed_count(initiative.id) == 1


def test_a_change_made_elsewhere_shows_within_the_cache_period(
    app, client, make_initiative, monkeypatch
):
    make_initiative()
    assert count_on_page(client) == 0 and count_in_json(client) == 0
    set_count_behind_the_apps_back(app, 7)
    # Within the period readers may see the old count ...
    assert count_on_page(client) == 0 and count_in_json(client) == 0
    # ... and after it, the new one.
    later = public_cache._now() + app.config["PUBLIC_CACHE_SECONDS"] + 0.1
    monkeypatch.setattr(public_cache, "_now", lambda: later)
    assert count_on_page(client) == 7 and count_in_json(client) == 7


def test_visitors_who_may_see_a_personal_page_bypass_the_cache(app, make_initiative):
    make_initiative()
    reader = app.test_client()
    assert count_on_page(reader) == 0
    set_count_behind_the_apps_back(app, 3)
    assert count_on_page(reader) == 0  # cached

    with_session = app.test_client()
    with with_session.session_transaction() as session:
        session["someone"] = "an organiser, say"
    assert count_on_page(with_session) == 3

    with_cookie = app.test_client()
    with_cookie.set_cookie("kiosk", "enrolled-tablet")
    assert count_on_page(with_cookie) == 3


def test_cached_pages_keep_language_and_campaign_tag_apart(app, make_initiative):
    make_initiative(
        texts={
            "sv": {"title": "Tryggare Amiralsgatan", "summary": "s", "body": "b"},
            "ar": {"title": "شارع أميرالسغاتان أكثر أمانًا", "summary": "s", "body": "b"},
        }
    )
    swedish, arabic = app.test_client(), app.test_client()
    arabic.set_cookie("lang", "ar")
    for _ in range(2):  # the second round is served from the cache
        assert "Tryggare Amiralsgatan" in swedish.get("/i/amiralsgatan").get_data(as_text=True)
        html = arabic.get("/i/amiralsgatan").get_data(as_text=True)
        assert 'dir="rtl"' in html and "أكثر أمانًا" in html
        tagged = swedish.get("/i/amiralsgatan?src=poster").get_data(as_text=True)
        assert 'name="src" type="hidden" value="poster"' in tagged
        plain = swedish.get("/i/amiralsgatan").get_data(as_text=True)
        assert 'value="poster"' not in plain


def test_zero_seconds_turns_the_cache_off(make_app, make_initiative):
    app = make_app(PUBLIC_CACHE_SECONDS=0)
    make_initiative()
    client = app.test_client()
    assert count_in_json(client) == 0
    set_count_behind_the_apps_back(app, 4)
    assert count_in_json(client) == 4 and count_on_page(client) == 4


def test_cached_json_keeps_its_etag_and_cache_headers(client, make_initiative):
    make_initiative()
    first = client.get("/api/initiatives/amiralsgatan")
    second = client.get("/api/initiatives/amiralsgatan")
    assert first.headers["ETag"] == second.headers["ETag"]
    assert "public" in second.headers["Cache-Control"]
    again = client.get(
        "/api/initiatives/amiralsgatan", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


def test_signing_pages_stay_private_to_browsers_and_proxies(client, make_initiative):
    make_initiative()
    for _ in range(2):
        response = client.get("/i/amiralsgatan")
        assert response.headers["Cache-Control"] == "no-store"
        assert CSRF_RE.search(response.get_data(as_text=True))


def test_wtforms_messages_come_from_catalogs_loaded_once(app, make_initiative):
    """WTForms' own messages are still translated, from a catalog parsed once."""
    i18n._wtforms_catalog.cache_clear()
    for language, expected in (("sv", "obligatoriskt"), ("ar", "مطلوب"), ("sv", "obligatoriskt")):
        with app.test_request_context(headers={"Accept-Language": language}):
            app.preprocess_request()
            assert expected in translations.gettext("This field is required.")
    assert i18n._wtforms_catalog.cache_info().misses == 2


def test_cached_confirmation_pages_carry_each_visitors_own_link_and_count(
    app, make_initiative, sign
):
    """Two signers open their links: the second page comes from the cached skeleton."""
    make_initiative()
    signers = [app.test_client(), app.test_client()]
    for n, browser in enumerate(signers):
        assert sign(who=browser, email=f"signer{n}@example.org").status_code == 303
    with app.app_context():
        ids = list(db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)))
        links = [f"/confirm/{make_token(Purpose.CONFIRM, public_id)}" for public_id in ids]

    pages = [
        browser.get(link).get_data(as_text=True)
        for browser, link in zip(signers, links, strict=True)
    ]
    tokens = [CSRF_RE.search(page).group(1) for page in pages]
    assert tokens[0] != tokens[1]
    for page, link, other in zip(pages, links, reversed(links), strict=True):
        assert f'action="{link}"' in page and other not in page and "\x00" not in page
    # Each button works for its own visitor, and the count shown afterwards is current,
    # though only the first confirmed page is rendered whole: the second is the cached
    # page with this visitor's link and the new count put in.
    rendered = []

    def note(_app, template, **_extra):
        rendered.append(template.name)

    with template_rendered.connected_to(note, app):
        for n, (browser, link, token) in enumerate(
            zip(signers, links, tokens, strict=True), start=1
        ):
            assert browser.post(link, data={"csrf_token": token}).status_code == 303
            done = browser.get(link).get_data(as_text=True)
            assert "panel-success" in done and f"<strong>{n}</strong>" in done
            assert f'value="{n}"' in done and f">{n}/" in done  # the bar, not only the text
            assert link.removeprefix("/confirm/") in done and "\x00" not in done
    assert rendered.count("signing/confirm.html") == 1
    # A confirmed page asked for again (served from the cache) still has its own link.
    again = signers[0].get(links[0]).get_data(as_text=True)
    assert "<strong>2</strong>" in again and links[1].removeprefix("/confirm/") not in again


def test_cached_confirmation_pages_show_each_signers_own_name_escaped(app, make_initiative, sign):
    """The pending page names whom the button confirms: each visitor's own name goes
    into the cached skeleton, escaped, and the page is rendered once per language and
    whether a postcode was given, not once per signer."""
    make_initiative()
    people = [
        ("<b>Hodan</b> & Ali", "hodan@example.org", "212 14"),
        ("أميرة حسن", "amira@example.org", "213 64"),
        ("Dženana Hodžić", "dzenana@example.org", None),
        ("Bilal Saïd", "bilal@example.org", None),
    ]
    browsers = [app.test_client() for _ in people]
    for browser, (name, email, postcode) in zip(browsers, people, strict=True):
        assert sign(who=browser, name=name, email=email, postcode=postcode).status_code == 303
    with app.app_context():
        ids = list(db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)))
        links = [f"/confirm/{make_token(Purpose.CONFIRM, public_id)}" for public_id in ids]

    rendered = []

    def note(_app, template, **_extra):
        rendered.append(template.name)

    with template_rendered.connected_to(note, app):
        pages = [
            browser.get(link).get_data(as_text=True)
            for browser, link in zip(browsers, links, strict=True)
        ]
    assert rendered.count("signing/confirm.html") == 2  # with a postcode, and without
    escaped = ["&lt;b&gt;Hodan&lt;/b&gt; &amp; Ali", "أميرة حسن", "Dženana Hodžić", "Bilal Saïd"]
    for n, page in enumerate(pages):
        assert f"<bdi>{escaped[n]}</bdi>" in page and "\x00" not in page
        others = [e for m, e in enumerate(escaped) if m != n]
        assert not [e for e in others if e in page]
        postcode = people[n][2]
        assert (f'<bdi dir="ltr">{postcode}</bdi>' in page) == bool(postcode)
        assert [p for _n, _e, p in people if p and p != postcode and p in page] == []
    assert "<b>Hodan" not in pages[0]


def test_a_link_with_characters_glued_on_never_puts_its_token_on_another_visitors_page(
    app, make_initiative, sign
):
    """Python's base64 skips characters outside its alphabet, so a link with ">>>>" (or
    four spaces, quotes, "!") glued on still named its signature; its page, whose form
    and language links carry the token escaped, was cached with that token left in and
    then shown to the next signer, whose button confirmed the first one's signature."""
    make_initiative()
    first, second = app.test_client(), app.test_client()
    for browser, email in ((first, "hodan@example.org"), (second, "amira@example.org")):
        assert sign(who=browser, email=email).status_code == 303
    with app.app_context():
        ids = list(db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)))
        first_token, second_token = (make_token(Purpose.CONFIRM, i) for i in ids)

    for glued in ("%3E%3E%3E%3E", "%20%20%20%20", "''''", "!!!!"):
        first.get(f"/confirm/{first_token}{glued}")
    link = f"/confirm/{second_token}"
    page = second.get(link).get_data(as_text=True)
    assert first_token not in page
    assert f'action="{link}"' in page
    pressed = second.post(link, data={"csrf_token": CSRF_RE.search(page).group(1)})
    assert pressed.status_code == 303
    with app.app_context():
        states = list(db.session.scalars(sa.select(Signature.state).order_by(Signature.id)))
    assert states == ["pending", "confirmed"]


def test_a_token_html_would_escape_is_never_cached_in_a_skeleton(app):
    """Defence in depth for the test above: a skeleton puts the link's token back
    unescaped, so one that escaping would change is rendered afresh, never cached."""
    renders = []

    def render() -> str:
        renders.append(1)
        return '<form action="/confirm/abc.def&gt;&gt;"></form>'

    with app.test_request_context("/confirm/x"):
        for _ in range(2):
            public_cache.cached_skeleton(("page",), "abc.def>>", render)
        for _ in range(2):
            public_cache.cached_skeleton(("page",), "abc.def", render)
    assert len(renders) == 3  # twice for the odd token, once for the plain one
