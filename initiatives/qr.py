"""QR codes, posters and flyers of an initiative, for anyone to print or show.

``/i/<slug>/qr.svg`` and ``qr.png`` encode ``BASE_URL/i/<slug>?src=<tag>``; the tag is
chosen with ``?src=`` (default ``qr``) and must be one of the initiative's.  Posters and
flyers carry ``poster`` and ``flyer`` unless asked otherwise (``qr`` once those are
removed).  Nothing here holds personal data, so every response is public and cacheable,
with an ETag.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask_babel import gettext as _

from . import campaign, clock, printing, qrimage
from .errors import error_response
from .models import Initiative, InitiativeState
from .printing_layout import SHEETS, Sheet
from .signing import public_initiative_or_404

bp = Blueprint("qr", __name__)

# A QR image only changes if BASE_URL does.  A poster changes with the initiative's text
# (a correction), so caches keep it but ask first (``no-cache``): the ETag answers that
# without drawing, and an organiser who fixed a typo never prints the old poster.
QR_MAX_AGE = 86400


class Refused(Exception):
    """A request this blueprint answers with a 4xx and a message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@bp.errorhandler(Refused)
def refused(exc: Refused) -> tuple[Response | str, int]:
    return error_response(exc.code, exc.message)


def chosen_tag(initiative: Initiative, default: str) -> str:
    """The tag from ``?src=`` (or ``default``): one of the initiative's, else ``Refused``.

    Organisers may remove the poster and flyer tags; the initiative page still links to
    its material without a tag, so that falls back to the screen tag, which stays.
    """
    if "src" not in request.args and default not in campaign.tags(initiative):
        default = campaign.SCREEN_TAG
    try:
        tag = campaign.normalise_tag(request.args.get("src", default))
    except campaign.TagError as exc:
        raise Refused(400, str(exc)) from exc
    if tag not in campaign.tags(initiative):
        raise Refused(
            404,
            _(
                "Initiativet har ingen kampanjtagg som heter %(tag)s. Taggar: %(tags)s.",
                tag=tag,
                tags=", ".join(campaign.tags(initiative)),
            ),
        )
    return tag


def png_size() -> int:
    """The ``size`` parameter in pixels, within bounds, else ``Refused``."""
    raw = request.args.get("size")
    if raw is None:
        return qrimage.PNG_DEFAULT_SIZE
    # isdigit() alone accepts "²" and other digits int() refuses.
    size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else -1
    if not qrimage.PNG_MIN_SIZE <= size <= qrimage.PNG_MAX_SIZE:
        raise Refused(
            400,
            _(
                "Storleken anges i pixlar, som ett heltal från %(min)d till %(max)d.",
                min=qrimage.PNG_MIN_SIZE,
                max=qrimage.PNG_MAX_SIZE,
            ),
        )
    return size


def _public(response: Response, max_age: int | None, filename: str) -> Response:
    """Cacheable by anyone: for ``max_age`` seconds, or with None only after asking."""
    response.cache_control.public = True
    if max_age is None:
        response.cache_control.no_cache = True
    else:
        response.cache_control.max_age = max_age
    response.headers.set("Content-Disposition", "inline", filename=filename)
    return response


def _qr_response(body: bytes, mimetype: str, max_age: int, filename: str) -> Response:
    response = _public(Response(body, mimetype=mimetype), max_age, filename)
    # A partner's page may show the code with a plain <img> (the site's own pages stay
    # same-origin): it is the same public image for everyone.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/i/<slug>/qr.svg")
def svg(slug: str) -> Response:
    initiative = public_initiative_or_404(slug)
    tag = chosen_tag(initiative, campaign.SCREEN_TAG)
    modules = qrimage.matrix(campaign.sign_url(initiative, tag))
    return _qr_response(
        qrimage.svg(modules), "image/svg+xml", QR_MAX_AGE, f"{initiative.slug}-qr-{tag}.svg"
    )


@bp.get("/i/<slug>/qr.png")
def png(slug: str) -> Response:
    initiative = public_initiative_or_404(slug)
    tag = chosen_tag(initiative, campaign.SCREEN_TAG)
    size = png_size()
    modules = qrimage.matrix(campaign.sign_url(initiative, tag))
    return _qr_response(
        qrimage.png(modules, size), "image/png", QR_MAX_AGE, f"{initiative.slug}-qr-{tag}.png"
    )


def printable(initiative: Initiative) -> bool:
    """Material asking people to sign makes sense until collection ends (also before it
    opens: organisers print ahead)."""
    return initiative.state == InitiativeState.COLLECTING and (
        initiative.closes_at is None or clock.utcnow() < initiative.closes_at
    )


def file_name(initiative: Initiative, sheet: Sheet, tag: str) -> str:
    suffix = "" if tag == sheet.tag else f"-{tag}"
    return f"{initiative.slug}-{sheet.name}{suffix}.pdf"


def _material_response(slug: str, sheet: Sheet) -> Response:
    initiative = public_initiative_or_404(slug)
    tag = chosen_tag(initiative, sheet.tag)
    if not printable(initiative):
        raise Refused(409, _("Insamlingen är avslutad, så det finns inget att skriva ut."))
    item = printing.material(initiative, tag)
    etag = printing.fingerprint(item, sheet)
    # Answer a revalidation before drawing anything: the ETag depends only on the input.
    # Weakly compared, as If-None-Match must be: a compressing proxy marks ETags weak.
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = Response(printing.render(item, sheet), mimetype="application/pdf")
    response.set_etag(etag)
    return _public(response, None, file_name(initiative, sheet, tag))


@bp.get("/i/<slug>/poster.pdf")
def poster(slug: str) -> Response:
    return _material_response(slug, SHEETS["poster"])


@bp.get("/i/<slug>/flyer.pdf")
def flyer(slug: str) -> Response:
    """One A6 flyer, or with ``?sheet=a4`` four of them on an A4 page to cut."""
    sheet = request.args.get("sheet", "a6")
    if sheet not in ("a6", "a4"):
        raise Refused(400, _("Välj arket a6 (ett flygblad) eller a4 (fyra att klippa isär)."))
    return _material_response(slug, SHEETS["flyer" if sheet == "a6" else "flyers-a4"])


@bp.app_template_global()
def share_url(initiative: Initiative) -> str:
    """The initiative's public address, from BASE_URL: the link to pass on, and where
    the page printed from a browser says to sign (no tag: it is not campaign material)."""
    return campaign.page_url(initiative)
