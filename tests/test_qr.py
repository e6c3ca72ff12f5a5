"""QR codes, posters and flyers over HTTP, read back by a real QR decoder (zxing-cpp) and,
for PDFs, rendered by poppler (pdftoppm, pdftotext) as a print shop would."""

from __future__ import annotations

import html
import io
import re

import pytest
import zxingcpp
from PIL import Image

from initiatives.models import InitiativeState

from .conftest import correct_the_text, create_initiative
from .print_tools import decode, page_size_mm, pdf_text, rasterise

URL = "http://localhost/i/amiralsgatan"
ARABIC_TITLE = "اجعلوا شارع أميرالسغاتان أكثر أمانًا وخضرة للمشاة وراكبي الدراجات"
TEXTS = {
    "sv": {
        "title": "Tryggare Amiralsgatan",
        "summary": "Säkra övergångar och en egen cykelbana.",
        "body": "Vi föreslår att Tekniska nämnden bygger säkra övergångar.",
    },
    "ar": {
        "title": ARABIC_TITLE,
        "summary": "نقترح معابر آمنة ومسارًا منفصلًا للدراجات.",
        "body": "نص الاقتراح.",
    },
}


# --- QR images ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", f"{URL}?src=qr"),
        ("?src=stand", f"{URL}?src=stand"),
        ("?src=Poster", f"{URL}?src=poster"),
    ],
)
def test_png_decodes_to_the_page_with_its_tag(client, make_initiative, query, expected):
    make_initiative()
    response = client.get(f"/i/amiralsgatan/qr.png{query}")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert decode(Image.open(io.BytesIO(response.data))) == [expected]


@pytest.mark.parametrize("size", [120, 333, 2000])
def test_png_has_the_size_asked_for_and_decodes_at_every_size(client, make_initiative, size):
    make_initiative()
    image = Image.open(io.BytesIO(client.get(f"/i/amiralsgatan/qr.png?size={size}").data))
    assert image.size == (size, size)
    assert decode(image) == [f"{URL}?src=qr"]


def quiet_zone_in_modules(image: Image.Image) -> float:
    """White space around the code, in modules, measured on the top-left finder pattern:
    its top edge is a run of exactly 7 dark modules followed by a light separator."""
    grey = image.convert("L")
    dark = [[grey.getpixel((x, y)) < 128 for x in range(grey.width)] for y in range(grey.height)]
    top = next(y for y, row in enumerate(dark) if any(row))
    left = dark[top].index(True)
    run = dark[top].index(False, left) - left
    module = run / 7
    right = grey.width - 1 - max(x for x in range(grey.width) if dark[top][x])
    bottom = grey.height - 1 - max(y for y in range(grey.height) if any(dark[y]))
    return min(top, left, right, bottom) / module


def test_png_keeps_a_quiet_zone_of_four_modules_and_error_correction_m(client, make_initiative):
    make_initiative()
    for size in (120, 600):
        image = Image.open(io.BytesIO(client.get(f"/i/amiralsgatan/qr.png?size={size}").data))
        [result] = zxingcpp.read_barcodes(image)
        assert result.ec_level in ("M", "Q", "H")
        assert quiet_zone_in_modules(image) >= 4


def test_png_with_a_tag_organisers_added(app, client, make_initiative):
    make_initiative()
    result = app.test_cli_runner().invoke(args=["tags", "add", "amiralsgatan", "bibliotek"])
    assert result.exit_code == 0
    image = Image.open(io.BytesIO(client.get("/i/amiralsgatan/qr.png?src=bibliotek").data))
    assert decode(image) == [f"{URL}?src=bibliotek"]


@pytest.mark.parametrize(
    "size", ["119", "2001", "0", "-5", "abc", "", "1e3", "600.0", "²", "9" * 40]
)
def test_png_size_outside_the_bounds_is_refused(client, make_initiative, size):
    make_initiative()
    response = client.get(f"/i/amiralsgatan/qr.png?size={size}")
    assert response.status_code == 400
    assert "från 120 till 2000" in response.get_data(as_text=True)


def test_svg_is_one_path_on_white_without_style_attributes(client, make_initiative):
    make_initiative()
    response = client.get("/i/amiralsgatan/qr.svg?src=flyer")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.count("<path") == 1 and 'fill="#fff"' in svg
    # Opened directly, the SVG is a document under our CSP: style attributes would be
    # blocked, scripts must not exist.
    assert "style" not in svg and "<script" not in svg
    n = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    assert n >= 21 + 8  # the smallest QR code plus the quiet zone on both sides


@pytest.mark.parametrize("path", ["qr.svg", "qr.png", "poster.pdf", "flyer.pdf"])
def test_unknown_and_malformed_tags_are_refused(app, client, make_initiative, path):
    make_initiative()
    unknown = client.get(f"/i/amiralsgatan/{path}?src=nope")
    assert unknown.status_code == 404
    assert "nope" in unknown.get_data(as_text=True)
    assert "qr, poster, flyer, stand" in unknown.get_data(as_text=True)
    malformed = client.get(f"/i/amiralsgatan/{path}?src=<b>x</b>")
    assert malformed.status_code == 400
    assert "<b>" not in malformed.get_data(as_text=True)


def test_the_pages_print_links_still_work_after_organisers_remove_poster_and_flyer(
    app, client, make_initiative, tmp_path
):
    """Only the screen tag cannot be removed.  Organisers who count their posters by
    place (bibliotek, tvattstuga-3) and remove poster and flyer must not leave the
    initiative page offering material that answers 404: it carries the screen tag."""
    make_initiative()
    for tag in ("poster", "flyer"):
        removed = app.test_cli_runner().invoke(args=["tags", "remove", "amiralsgatan", tag])
        assert removed.exit_code == 0, removed.output
    page = client.get("/i/amiralsgatan").get_data(as_text=True)
    links = re.findall(r'href="(/i/amiralsgatan/(?:poster|flyer)\.pdf[^"]*)"', page)
    assert len(links) == 3
    for link in links:
        response = client.get(html.unescape(link))
        assert response.status_code == 200, link
        image = rasterise(response.data, tmp_path, dpi=150)
        assert decode(image) == [f"{URL}?src=qr"] * (4 if "sheet=a4" in link else 1)
    # Asked for by name, a removed tag is still unknown.
    assert client.get("/i/amiralsgatan/poster.pdf?src=poster").status_code == 404


@pytest.mark.parametrize("path", ["qr.svg", "qr.png", "poster.pdf", "flyer.pdf"])
def test_drafts_and_unknown_initiatives_have_no_material(client, make_initiative, path):
    make_initiative("utkast", state=InitiativeState.DRAFT)
    assert client.get(f"/i/utkast/{path}").status_code == 404
    assert client.get(f"/i/finns-inte/{path}").status_code == 404


@pytest.mark.parametrize(
    "path", ["qr.svg", "qr.png?size=300", "poster.pdf", "flyer.pdf", "flyer.pdf?sheet=a4"]
)
def test_responses_are_public_cacheable_and_revalidate_with_etag(client, make_initiative, path):
    make_initiative()
    first = client.get(f"/i/amiralsgatan/{path}")
    assert first.status_code == 200
    assert first.cache_control.public
    # A QR code only changes with BASE_URL; a poster with the text, so it is revalidated.
    if path.startswith("qr."):
        assert first.cache_control.max_age >= 3600
    else:
        assert first.cache_control.no_cache
    assert first.headers["ETag"]
    assert "Set-Cookie" not in first.headers
    again = client.get(f"/i/amiralsgatan/{path}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get(f"/i/amiralsgatan/{path}{'&' if '?' in path else '?'}src=stand")
    assert other.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize("path", ["qr.svg", "poster.pdf", "flyer.pdf?sheet=a4"])
def test_a_weakened_etag_still_revalidates(client, make_initiative, path):
    """A proxy that compresses a response marks its ETag weak (W/"..."); If-None-Match
    compares weakly, so the poster is not drawn again for every such revalidation."""
    make_initiative()
    etag = client.get(f"/i/amiralsgatan/{path}").headers["ETag"]
    again = client.get(f"/i/amiralsgatan/{path}", headers={"If-None-Match": f"W/{etag}"})
    assert again.status_code == 304 and again.data == b""


def test_a_corrected_title_is_never_served_from_a_stale_poster(
    app, client, make_initiative, tmp_path
):
    """A browser or proxy may keep a poster but must ask before using it again: an
    organiser who corrects a typo and downloads the poster again prints the new title."""
    initiative = make_initiative()
    first = client.get("/i/amiralsgatan/poster.pdf")
    assert first.cache_control.public
    assert first.cache_control.no_cache or first.cache_control.max_age == 0
    correct_the_text(app, initiative.text_hash)
    again = client.get(
        "/i/amiralsgatan/poster.pdf", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 200
    text = pdf_text(again.data, tmp_path)
    assert "Rättad" in text and "Tryggare Amiralsgatan" not in text


def test_the_printed_initiative_page_gives_the_address_from_base_url(make_app):
    """Printed from the browser, the page says where to sign: the site's public address,
    as on the posters, not whatever host the request came in by (behind a proxy that
    is the app server's own, http://127.0.0.1:8000)."""
    app = make_app(BASE_URL="https://malmoinitiativ.example.org")
    create_initiative(app)
    page = app.test_client().get("/i/amiralsgatan").get_data(as_text=True)
    printed = re.search(r'<p class="print-only">(.*?)</p>', page, re.S).group(1)
    assert "https://malmoinitiativ.example.org/i/amiralsgatan" in printed
    assert "localhost" not in printed


def test_svg_and_png_are_the_same_bytes_every_time(client, make_initiative):
    make_initiative()
    for path in ("qr.svg", "qr.png", "poster.pdf"):
        first = client.get(f"/i/amiralsgatan/{path}")
        assert client.get(f"/i/amiralsgatan/{path}").data == first.data


# --- posters and flyers --------------------------------------------------------------------


def test_poster_is_a4_and_decodes_to_the_poster_link(client, make_initiative, tmp_path, artifacts):
    make_initiative(texts=TEXTS)
    response = client.get("/i/amiralsgatan/poster.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "amiralsgatan-poster-a4.pdf" in response.headers["Content-Disposition"]
    assert page_size_mm(response.data, tmp_path) == (210, 297)
    image = rasterise(response.data, tmp_path, dpi=100)
    image.save(artifacts / "poster-a4.png")
    assert decode(image) == [f"{URL}?src=poster"]
    # Even a rough 50 dpi render (a photocopy, a phone at a distance) still decodes.
    assert decode(rasterise(response.data, tmp_path, dpi=50, name="rough")) == [f"{URL}?src=poster"]


def test_flyer_is_a6_and_decodes_to_the_flyer_link(client, make_initiative, tmp_path, artifacts):
    make_initiative(texts=TEXTS)
    response = client.get("/i/amiralsgatan/flyer.pdf")
    assert response.status_code == 200
    assert page_size_mm(response.data, tmp_path) == (105, 148)
    image = rasterise(response.data, tmp_path, dpi=150)
    image.save(artifacts / "flyer-a6.png")
    assert decode(image) == [f"{URL}?src=flyer"]


def test_four_flyers_on_an_a4_sheet_each_decode(client, make_initiative, tmp_path, artifacts):
    make_initiative(texts=TEXTS)
    response = client.get("/i/amiralsgatan/flyer.pdf?sheet=a4&src=stand")
    assert response.status_code == 200
    assert page_size_mm(response.data, tmp_path) == (210, 297)
    image = rasterise(response.data, tmp_path, dpi=150)
    image.save(artifacts / "flyers-4-on-a4.png")
    assert decode(image) == [f"{URL}?src=stand"] * 4
    assert client.get("/i/amiralsgatan/flyer.pdf?sheet=a3").status_code == 400


def test_poster_text_has_the_swedish_and_arabic_titles_in_logical_order(
    client, make_initiative, tmp_path
):
    make_initiative(texts=TEXTS)
    text = pdf_text(client.get("/i/amiralsgatan/poster.pdf").data, tmp_path)
    assert "Tryggare Amiralsgatan" in text
    assert ARABIC_TITLE in text
    assert "Skanna för att skriva under" in text
    assert "امسح الرمز للتوقيع" in text
    assert "localhost/i/amiralsgatan" in text  # printed for people who cannot scan
    assert "Rosengård Samverkan" in text  # the organisation (ORGANISATION_NAME)
    assert "Sista dag att skriva under:" in text


def test_poster_carries_no_personal_data(client, make_initiative, sign, tmp_path):
    make_initiative()
    sign(name="Fatima Qasim", email="fatima.qasim@example.org", src="poster")
    text = pdf_text(client.get("/i/amiralsgatan/poster.pdf").data, tmp_path)
    assert "Fatima" not in text and "fatima.qasim" not in text
    assert "Tryggare Amiralsgatan" in text


def test_closed_initiatives_have_no_posters_but_their_qr_code_still_works(client, make_initiative):
    make_initiative(state=InitiativeState.CLOSED)
    make_initiative("ute", closes_in_days=-1)
    for slug in ("amiralsgatan", "ute"):
        refused = client.get(f"/i/{slug}/poster.pdf")
        assert refused.status_code == 409
        assert "Insamlingen är avslutad" in refused.get_data(as_text=True)
        assert client.get(f"/i/{slug}/qr.svg").status_code == 200


def test_print_command_writes_poster_and_flyers(app, make_initiative, tmp_path):
    make_initiative(texts=TEXTS)
    out = tmp_path / "tryck"
    result = app.test_cli_runner().invoke(args=["print", "amiralsgatan", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "amiralsgatan-flyer-a6.pdf",
        "amiralsgatan-flyers-4-on-a4.pdf",
        "amiralsgatan-papperslista-a4.pdf",
        "amiralsgatan-poster-a4.pdf",
    ]
    poster = (out / "amiralsgatan-poster-a4.pdf").read_bytes()
    assert decode(rasterise(poster, tmp_path, dpi=100)) == [f"{URL}?src=poster"]
    # The blank paper signature sheet too, as the admin's campaign page gives it.
    sheet = (out / "amiralsgatan-papperslista-a4.pdf").read_bytes()
    assert decode(rasterise(sheet, tmp_path, dpi=150)) == [f"{URL}?src=qr"]

    tagged = app.test_cli_runner().invoke(
        args=["print", "amiralsgatan", "--out", str(out), "--src", "stand"]
    )
    assert tagged.exit_code == 0, tagged.output
    flyer = (out / "amiralsgatan-flyer-a6-stand.pdf").read_bytes()
    assert decode(rasterise(flyer, tmp_path, dpi=150)) == [f"{URL}?src=stand"]
    sheet = (out / "amiralsgatan-papperslista-a4-stand.pdf").read_bytes()
    assert decode(rasterise(sheet, tmp_path, dpi=150)) == [f"{URL}?src=stand"]

    refused = app.test_cli_runner().invoke(
        args=["print", "amiralsgatan", "--out", str(out), "--src", "nope"]
    )
    assert refused.exit_code == 1 and "not one of the tags" in refused.output


def test_organisers_can_print_a_draft_ahead_of_the_launch(app, make_initiative, tmp_path):
    make_initiative("utkast", state=InitiativeState.DRAFT)
    result = app.test_cli_runner().invoke(
        args=["print", "utkast", "--out", str(tmp_path / "tryck")]
    )
    assert result.exit_code == 0, result.output
    assert "not collecting signatures (draft)" in result.stderr
    assert (tmp_path / "tryck" / "utkast-poster-a4.pdf").read_bytes().startswith(b"%PDF-")
    missing = app.test_cli_runner().invoke(args=["print", "finns-inte", "--out", str(tmp_path)])
    assert missing.exit_code == 1 and "no initiative" in missing.output


def test_a_partners_page_may_show_the_qr_code_but_not_the_poster(client, make_initiative):
    """Cross-Origin-Resource-Policy: a browser shows another site's <img> of the code;
    the posters and the site's pages stay same-origin."""
    make_initiative()
    for path in ("qr.svg", "qr.png?size=120"):
        response = client.get(f"/i/amiralsgatan/{path}")
        assert response.headers.getlist("Cross-Origin-Resource-Policy") == ["cross-origin"]
        again = client.get(
            f"/i/amiralsgatan/{path}", headers={"If-None-Match": response.headers["ETag"]}
        )
        assert again.status_code == 304
        assert again.headers.getlist("Cross-Origin-Resource-Policy") == ["cross-origin"]
    for path in ("poster.pdf", ""):
        response = client.get(f"/i/amiralsgatan/{path}".rstrip("/"))
        assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin", path
