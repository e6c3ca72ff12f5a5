"""Counts are written as the reader's language writes numbers: 12 345, 12,345, 12.345.

A popular initiative gets thousands of signatures; "12345 av 20000" is harder to read
than it need be, and the clerk's cover letter is read in Swedish.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import template_rendered
from flask_babel import force_locale

from bench.client import page_count
from initiatives.charts import daily_chart
from initiatives.extensions import db
from initiatives.models import Signature
from initiatives.pack_pdf import write_cover
from initiatives.pack_texts import PackInfo, readme
from initiatives.tokens import Purpose, make_token

from .conftest import csrf_token
from .print_tools import pdf_text

NBSP = "\u00a0"

# What each language's readers expect (CLDR's conventions, written out here on purpose,
# so that a change of library or data that altered them would fail this test).
WRITTEN = {
    "sv": (f"12{NBSP}345", f"20{NBSP}000"),
    "en": ("12,345", "20,000"),
    "bs": ("12.345", "20.000"),
    "ar": ("12,345", "20,000"),
}


@pytest.mark.parametrize("locale", sorted(WRITTEN))
def test_the_count_and_the_goal_are_grouped_as_the_language_writes_them(
    client, make_initiative, locale
):
    make_initiative(threshold=20000, confirmed_count=12345)
    client.set_cookie("lang", locale)
    count, goal = WRITTEN[locale]
    for _ in range(2):  # rendered, then from the page cache
        html = client.get("/i/amiralsgatan").get_data(as_text=True)
        assert f'<p class="progress-count"><strong>{count}</strong>' in html
        assert f"{count}/{goal}</progress>" in html
        words = re.sub(r'(max|value)="\d+"', "", html)  # the bar's own attributes stay plain
        assert "12345" not in words and "20000" not in words
    # Machines still get plain numbers.
    data = client.get("/api/initiatives/amiralsgatan").get_json()
    assert (data["confirmed"], data["threshold"]) == (12345, 20000)


@pytest.mark.parametrize("locale", sorted(WRITTEN))
def test_the_load_benchmark_reads_the_grouped_count(client, make_initiative, locale):
    """bench/ checks after every run that the page shows COUNT(*); it must read 12 345."""
    make_initiative(threshold=20000, confirmed_count=12345)
    client.set_cookie("lang", locale)
    assert page_count(client.get("/i/amiralsgatan").get_data()) == 12345


def test_a_small_count_is_unchanged(client, make_initiative):
    make_initiative(confirmed_count=7)
    html = client.get("/i/amiralsgatan").get_data(as_text=True)
    assert '<p class="progress-count"><strong>7</strong>' in html


def test_the_thank_you_page_puts_the_grouped_count_into_its_cached_copy(app, make_initiative, sign):
    """The confirmed page is cached with its count cut out; the grouped count goes back in."""
    make_initiative(confirmed_count=1232)
    for address in ("hodan@example.org", "emir@example.org"):
        sign(email=address)
    with app.app_context():
        ids = db.session.scalars(sa.select(Signature.public_id).order_by(Signature.id)).all()
        links = [f"/confirm/{make_token(Purpose.CONFIRM, public_id)}" for public_id in ids]
    shown, rendered = [], []
    for page in links:
        reader = app.test_client()  # each from her own mail, with nothing in her session
        assert reader.post(page, data={"csrf_token": csrf_token(reader, page)}).status_code == 303
        with captured_templates(app) as templates:
            shown.append(reader.get(page).get_data(as_text=True))
        rendered.append(templates)
    assert f"<strong>1{NBSP}233</strong>" in shown[0]
    assert f"<strong>1{NBSP}234</strong>" in shown[1]
    assert "signing/confirm.html" in rendered[0]
    assert "signing/confirm.html" not in rendered[1]  # the cached copy, count put in


@contextmanager
def captured_templates(app) -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(record, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(record, app)


def test_the_dashboard_chart_labels_its_axes_in_swedish(app):
    start = date(2026, 11, 1)
    series = [(start + timedelta(days=i), 2500) for i in range(8)]
    with app.test_request_context(), force_locale("sv"):
        svg = str(daily_chart(series, 20000, "Per dag"))
    assert f"20{NBSP}000 bekräftade underskrifter på 8 dagar; målet är 20{NBSP}000." in svg
    assert f">1{NBSP}000</text>" in svg  # a quarter of the left axis (4 000)
    assert f"mål 20{NBSP}000" in svg
    assert f"2026-11-01: 2{NBSP}500</title>" in svg


@pytest.mark.parametrize(
    ("per_day", "goal"), [(3, 10), (5, 100), (7, 100), (13, 50), (30, 100), (81, 300), (999, 5000)]
)
def test_the_dashboard_chart_counts_in_whole_numbers(app, per_day, goal):
    """Its axes count signatures: 1,2 or 3,8 (quarters of 5) is no count at all."""
    start = date(2026, 11, 1)
    series = [(start + timedelta(days=i), per_day) for i in range(3)]
    with app.test_request_context(), force_locale("sv"):
        svg = str(daily_chart(series, goal, "Per dag"))
    labels = re.findall(r'<text class="axis(?: axis-total)?"[^>]*>([^<]*)</text>', svg)
    numbers = [label for label in labels if "/" not in label]  # not the days
    assert len(numbers) == 10
    assert all(re.fullmatch(r"\d+", n.replace(NBSP, "")) for n in numbers), numbers
    tops = [int(numbers[i].replace(NBSP, "")) for i in (-2, -1)]
    assert tops[0] >= per_day and tops[1] >= max(3 * per_day, goal)


def _info(**overrides) -> PackInfo:
    fields = {
        "slug": "amiralsgatan",
        "title": "Tryggare Amiralsgatan",
        "summary_text": "Säkra övergångar.",
        "body": "Vi föreslår säkra övergångar.",
        "target_body": "Tekniska nämnden",
        "text_hash": "ab" * 32,
        "threshold": 10000,
        "opens_on": date(2026, 5, 1),
        "closes_on": date(2026, 11, 1),
        "state": "closed",
        "counts": {"web": 10234, "kiosk": 1500, "paper": 250},
        "total": 11984,
        "paper_sheets": 25,
        "names": "full",
        "generated_at": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        "organisation": "Rosengård Samverkan",
        "contact": "kontakt@example.org",
        "city_reference": None,
        "invalidated": 1200,
    }
    return PackInfo(**(fields | overrides))


def test_the_clerks_letter_and_readme_write_counts_the_swedish_way(tmp_path):
    info = _info()
    text = readme(info, [("underskrifter.csv", "cd" * 32)]).decode("utf-8-sig")
    assert (
        f"Bekräftade underskrifter: 11{NBSP}984 (webben 10{NBSP}234, surfplatta "
        f"vid insamlingsplats 1{NBSP}500, papperslistor 250)"
    ) in text
    assert f"inte med i listan: 1{NBSP}200" in text

    cover = tmp_path / "foljebrev.pdf"
    write_cover(cover, info, {"underskrifter.pdf": "ef" * 32})
    letter = " ".join(pdf_text(cover.read_bytes(), tmp_path).replace(NBSP, " ").split())
    assert "fick initiativet 11 984 bekräftade underskrifter" in letter
    assert "Via webben, bekräftade med e-post 10 234" in letter
    assert "Antal som krävs 10 000" in letter
    assert "ogiltigförklarat 1 200 underskrifter" in letter
