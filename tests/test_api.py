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


def test_unknown_slug_is_a_json_404(client, make_initiative):
    response = client.get("/api/initiatives/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == 404
