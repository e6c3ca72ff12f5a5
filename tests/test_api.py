"""The public JSON: counts and state, never personal data, cacheable."""

from __future__ import annotations

from initiatives.models import InitiativeState


def test_list_and_detail_give_counts_and_state_with_cache_headers(client, make_initiative, sign):
    make_initiative()
    make_initiative("utkast", state=InitiativeState.DRAFT)
    sign(name="Zainab Warsame", email="zainab@example.org")

    listing = client.get("/api/initiatives")
    assert listing.status_code == 200
    [item] = listing.get_json()["initiatives"]
    assert set(item) >= {
        "slug",
        "title",
        "state",
        "threshold",
        "confirmed",
        "opens_at",
        "closes_at",
    }
    assert item["slug"] == "amiralsgatan" and item["state"] == "collecting"
    assert item["confirmed"] == 0 and item["threshold"] == 100

    detail = client.get("/api/initiatives/amiralsgatan")
    assert detail.get_json() == item
    assert "public" in detail.headers["Cache-Control"]
    assert "max-age" in detail.headers["Cache-Control"]
    etag = detail.headers["ETag"]
    assert etag
    again = client.get("/api/initiatives/amiralsgatan", headers={"If-None-Match": etag})
    assert again.status_code == 304

    body = (listing.get_data(as_text=True) + detail.get_data(as_text=True)).lower()
    assert "zainab" not in body and "warsame" not in body and "@" not in body


def test_public_responses_can_be_shared_by_a_cdn_whatever_the_visitors_cookie(
    client, make_initiative
):
    """No ``Vary: Cookie`` and no session cookie on what is the same for everyone.

    The visitor has a session (she loaded the page, which holds her CSRF token): a
    proxy must still be able to hand her the same counter and QR code as everybody.
    """
    make_initiative()
    page = client.get("/i/amiralsgatan")
    assert "Cookie" in page.headers.get("Vary", "") and "Set-Cookie" in page.headers
    assert client.get_cookie("initiatives_session") is not None
    for path in ("/api/initiatives/amiralsgatan", "/api/initiatives", "/i/amiralsgatan/qr.svg"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "public" in response.headers["Cache-Control"], path
        assert "Cookie" not in response.headers.get("Vary", ""), path
        assert "Set-Cookie" not in response.headers, path
        again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and "Cookie" not in again.headers.get("Vary", "")
    # The session itself is untouched: the page still has her token.
    assert client.get_cookie("initiatives_session") is not None
    assert "Cookie" in client.get("/i/amiralsgatan").headers.get("Vary", "")


def test_unknown_slug_is_a_json_404(client, make_initiative):
    response = client.get("/api/initiatives/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == 404


def test_any_website_may_read_the_counts_but_never_with_the_visitors_cookies(
    client, make_initiative
):
    """A partner's page can show the live counter: CORS ``*`` and a cross-origin CORP on
    every ``/api/`` answer (a 304 and a 404 too), and never the credentials flag."""
    make_initiative()
    origin = {"Origin": "https://partner.example"}
    for method, path in (
        ("GET", "/api/initiatives"),
        ("GET", "/api/initiatives/amiralsgatan"),
        ("GET", "/api/initiatives/nope"),
        ("GET", "/api/no/such/thing"),  # no route at all
        ("POST", "/api/initiatives"),  # a method the route does not take
    ):
        response = client.open(path, method=method, headers=origin)
        assert response.status_code in (200, 404, 405), path
        assert response.headers["Access-Control-Allow-Origin"] == "*", path
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin", path
        assert "Access-Control-Allow-Credentials" not in response.headers, path
        assert len(response.headers.getlist("Cross-Origin-Resource-Policy")) == 1, path
    etag = client.get("/api/initiatives/amiralsgatan").headers["ETag"]
    again = client.get("/api/initiatives/amiralsgatan", headers={**origin, "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["Access-Control-Allow-Origin"] == "*"
    # The site's own pages stay closed to other sites.
    page = client.get("/i/amiralsgatan", headers=origin)
    assert "Access-Control-Allow-Origin" not in page.headers
    assert page.headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_a_partner_can_tell_whether_signing_is_open_without_reading_dates(client, make_initiative):
    """The period ended but nobody has pressed "close" yet: the state still says
    collecting, as the record does, and the page no longer takes signatures; a
    partner's counter must be able to say so too."""
    make_initiative()
    make_initiative("ended", opens_days_ago=100, closes_in_days=-1)
    make_initiative("stangd", state=InitiativeState.CLOSED)
    answers = {i["slug"]: i for i in client.get("/api/initiatives").get_json()["initiatives"]}
    assert answers["amiralsgatan"]["accepting_signatures"] is True
    assert answers["ended"]["state"] == "collecting"
    assert answers["ended"]["accepting_signatures"] is False
    assert answers["stangd"]["accepting_signatures"] is False
    assert client.get("/api/initiatives/ended").get_json()["accepting_signatures"] is False


def test_the_json_never_opens_the_visitors_session(app, client, make_initiative):
    """The counter widget's polls carry the page's session cookie; the JSON does not
    read it (its signature check was a sixth of a poll's CPU), nor write it: the page's
    session, and the CSRF token in it, are as they were."""
    make_initiative()
    client.get("/i/amiralsgatan")
    cookie = client.get_cookie("initiatives_session")
    assert cookie is not None
    headers = {"Cookie": f"initiatives_session={cookie.value}"}
    interface = app.session_interface
    for path, opened in (("/api/initiatives/amiralsgatan", False), ("/i/amiralsgatan", True)):
        with app.test_request_context(path, headers=headers) as ctx:
            session = interface.open_session(app, ctx.request)
            assert ("csrf_token" in session) is opened, path
    for path in ("/api/initiatives/amiralsgatan", "/api/initiatives", "/api/initiatives/nope"):
        response = client.get(path)
        assert "Set-Cookie" not in response.headers, path
    assert client.get_cookie("initiatives_session").value == cookie.value
