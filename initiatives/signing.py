"""The initiative page, the sign form, and the confirmation and withdrawal links."""

from __future__ import annotations

import io
from functools import cache

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    get_template_attribute,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy.orm import lazyload
from werkzeug.exceptions import NotFound

from . import campaign, clock, lifecycle, signature_states, signatures, texts
from .crypto import crypto
from .errors import CSRF_MESSAGE, error_response
from .extensions import db, limiter, reads_only
from .forms import ButtonForm, SignForm, chosen_address
from .i18n import DEFAULT, isolate
from .models import Initiative, InitiativeState, InitiativeText, Signature, SignatureState
from .public_cache import cached_page, cached_skeleton
from .tokens import Purpose, TokenError, read_versioned_token

bp = Blueprint("signing", __name__)

FORM_EXPIRED = _l(
    "Formuläret hade gått ut, så din underskrift är inte sparad än. Det du skrev finns "
    "kvar: tryck på knappen igen. Händer det igen: tillåt cookies för den här webbplatsen "
    "eller öppna sidan i en annan webbläsare."
)

LINK_PAGE_EXPIRED = _l(
    "Sidan hade gått ut, så inget är ändrat än. Tryck på knappen igen. Händer det igen: "
    "tillåt cookies för den här webbplatsen eller öppna länken i en annan webbläsare."
)

PUBLIC_STATES = (
    InitiativeState.COLLECTING,
    InitiativeState.CLOSED,
    InitiativeState.SUBMITTED,
    InitiativeState.ANSWERED,
    InitiativeState.WITHDRAWN,
)


def public_initiative_or_404(slug: str) -> Initiative:
    if len(slug) > 80 or "\x00" in slug:  # PostgreSQL refuses NUL in a text value
        abort(404)
    initiative = db.session.scalars(_by_slug(), {"slug": slug}).one_or_none()
    if initiative is None or initiative.state not in PUBLIC_STATES:
        abort(404)
    # A draft may be withdrawn too: its text was never published and must not be now.
    if initiative.opens_at is None:
        abort(404)
    return initiative


@cache
def _by_slug() -> sa.Select[tuple[Initiative]]:
    # Built once, not per request.  Texts load when a page needs them, not for every
    # sign POST.
    return (
        sa.select(Initiative)
        .where(Initiative.slug == sa.bindparam("slug"))
        .options(lazyload(Initiative.texts))
    )


def source_tag(initiative: Initiative, value: str | None) -> str | None:
    """The campaign tag from ``?src=``, if it is one of the initiative's tags.

    Anything else (a typo, a made-up value) is simply not recorded: the page still works.
    """
    return campaign.known_tag(initiative, value)


def _render_initiative(
    initiative: Initiative,
    form: SignForm,
    status: int = 200,
    problem: str | None = None,
    suggested: str | None = None,
) -> tuple[str, int]:
    locale = str(get_locale() or DEFAULT)
    text = initiative.text(locale)
    # What this page shows now, also after a refused POST.
    form.text_version.data = initiative.text_hash
    return (
        render_template(
            "signing/initiative.html",
            initiative=initiative,
            text=text,
            fallback=text is not None and text.locale != locale,
            form=form,
            problem=problem,
            suggested=suggested,
            answer_pdf=answer_pdf_id(initiative) is not None,
            # After a refused POST the address is the form's: switching language returns
            # to the page, with the campaign tag the form carried.
            language_next=url_for(".initiative", slug=initiative.slug, src=form.src.data or None),
        ),
        status,
    )


@bp.get("/i/<slug>")
def initiative(slug: str) -> str:
    def render() -> str:
        initiative = public_initiative_or_404(slug)
        form = SignForm(src=source_tag(initiative, request.args.get("src")))
        return _render_initiative(initiative, form)[0]

    return cached_page(render)


def answer_pdf_id(initiative: Initiative) -> int | None:
    """The answer PDF's id once the committee has answered, if one was uploaded (its
    content is loaded only to send it)."""
    if initiative.state != InitiativeState.ANSWERED:
        return None
    return db.session.scalar(
        sa.select(lifecycle.AnswerDocument.id).where(
            lifecycle.AnswerDocument.initiative_id == initiative.id
        )
    )


# The answer is recorded once and never changes: caches may keep it a while.
ANSWER_MAX_AGE = 3600


@bp.get("/i/<slug>/answer.pdf")
def answer_pdf(slug: str) -> Response:
    """The committee's answer as the city sent it: a public decision, for everyone who
    signed or reads the initiative's page."""
    document_id = answer_pdf_id(public_initiative_or_404(slug))
    if document_id is None:
        abort(404)
    document = db.session.get_one(lifecycle.AnswerDocument, document_id)
    # A name beyond Latin-1 goes as RFC 6266's filename* (see admin.answer_pdf).
    response = send_file(
        io.BytesIO(document.content),
        mimetype="application/pdf",
        download_name=document.filename,
        etag=document.sha256,
        max_age=ANSWER_MAX_AGE,
    )
    response.cache_control.public = True
    return response.make_conditional(request)


@bp.get("/i/<slug>/sign")
def sign_get(slug: str) -> Response:
    public_initiative_or_404(slug)
    return redirect(url_for(".initiative", slug=slug, _anchor="sign"))


def _sign_limit() -> str:
    return current_app.config["SIGN_RATE_LIMIT"]


def _closed(initiative: Initiative) -> tuple[str, int]:
    """The sign form's answer once the initiative takes no signatures: seen before the
    form was checked, or found under the hold (``signatures.hold_open``) by a close
    that committed while the request was on its way."""
    return render_template("signing/closed.html", initiative=initiative), 409


@bp.post("/i/<slug>/sign")
@limiter.limit(_sign_limit, methods=["POST"])
def sign(slug: str) -> Response | tuple[str, int]:
    # Validate before the first query: on SQLite that query begins the write
    # transaction, and every other signer waits while it is open.
    form = SignForm(formdata=chosen_address(request.form))
    valid = form.validate_on_submit()
    initiative = public_initiative_or_404(slug)
    if not initiative.accepts_signatures():
        return _closed(initiative)
    if not valid:
        return _render_initiative(initiative, form, 400)
    if form.website.data:
        # The honeypot was filled: a bot.  It gets the same page as a person, and
        # nothing is stored.
        return redirect(url_for(".check_email", slug=slug), code=303)
    suggested = form.address_to_ask()
    if suggested:
        # Nothing is wrong yet: the form again, to choose (not cached: a POST's answer).
        return _render_initiative(initiative, form, suggested=suggested)
    remote = request.remote_addr or "unknown"
    try:
        signatures.sign(
            initiative,
            name=form.name.data,
            email=form.email.data,
            postcode=form.postcode.data,
            locale=str(get_locale() or DEFAULT),
            source_tag=source_tag(initiative, form.src.data),
            text_hash=texts.version_shown(initiative, form.text_version.data),
            client_hash=crypto().client_hash(remote, clock.utcnow().date()),
        )
    except signatures.InitiativeClosedError:
        # Closed (or handed in, or withdrawn) while this request was on its way.
        db.session.rollback()
        return _closed(initiative)
    db.session.commit()
    return redirect(url_for(".check_email", slug=slug), code=303)


@bp.errorhandler(CSRFError)
def form_expired(exc: CSRFError) -> Response | tuple[str, int]:
    """A form's token was refused: its session cookie is gone (a phone that kept the
    page open overnight, an app's browser that never kept it).  The sign form comes back
    with what was typed and a new token, not as an error page that loses it all; a
    link's page with its button."""
    if request.endpoint in ("signing.confirm", "signing.withdraw"):
        return _link_page_again((request.view_args or {}).get("token", ""))
    if request.endpoint != "signing.sign":
        return error_response(400, str(CSRF_MESSAGE))
    try:
        initiative = public_initiative_or_404((request.view_args or {}).get("slug", ""))
    except NotFound:
        return error_response(404)
    if not initiative.accepts_signatures():
        return _closed(initiative)
    return _render_initiative(initiative, SignForm(), 400, problem=str(FORM_EXPIRED))


def _link_page_again(token: str) -> tuple[str, int]:
    """The button of a link's page was refused: that page again, with a button that
    works (an error page would say to reload, which sends the refused form again)."""
    try:
        if request.endpoint == "signing.confirm":
            signature, text = _linked_signature(Purpose.CONFIRM, token)
            return _confirm_page(signature, text, token, problem=str(LINK_PAGE_EXPIRED))
        signature, text = _linked_signature(Purpose.WITHDRAW, token)
        return _withdraw_page(signature, text, problem=str(LINK_PAGE_EXPIRED))
    except LinkProblem as exc:
        return link_problem(exc)


@bp.get("/i/<slug>/thanks")
def check_email(slug: str) -> str:
    """The same page whatever happened: it never tells whether an address signed."""

    def render() -> str:
        initiative = public_initiative_or_404(slug)
        text = initiative.text(str(get_locale() or DEFAULT))
        return render_template("signing/check_email.html", initiative=initiative, text=text)

    return cached_page(render)


class LinkProblem(Exception):
    """A confirmation or withdrawal link that names no signature: its reason ("expired",
    "invalid" or "gone"; "replaced": a confirmation link made before the signature's
    name or postcode was corrected) and its purpose."""

    def __init__(self, reason: str, purpose: Purpose):
        super().__init__(reason)
        self.reason = reason
        self.purpose = purpose


@bp.errorhandler(LinkProblem)
def link_problem(exc: LinkProblem) -> tuple[str, int]:
    status = 410 if exc.reason in ("expired", "gone", "replaced") else 400
    return (
        render_template("signing/token_problem.html", reason=exc.reason, purpose=exc.purpose.value),
        status,
    )


def _linked_signature(purpose: Purpose, token: str) -> tuple[Signature, InitiativeText | None]:
    """The signature a link names, with its text in the visitor's language, else
    ``LinkProblem``."""
    try:
        public_id, version = read_versioned_token(purpose, token)
    except TokenError as exc:
        raise LinkProblem(exc.reason, purpose) from exc
    if request.method in ("GET", "HEAD"):
        reads_only()  # a link's page is one query (a mail scanner's prefetch too)
    found = signature_states.with_text(public_id, str(get_locale() or DEFAULT))
    if found is None:
        raise LinkProblem("gone", purpose)
    if purpose is Purpose.CONFIRM and version != found[0].details_version:
        # Made before the name or postcode was corrected: it greets the old details,
        # and whoever holds it must not confirm the new ones (nor, with a stranger's
        # correction, the stranger's).  The newest mail has the link that works.
        raise LinkProblem("replaced", purpose)
    return found


def _confirm_limit() -> str:
    return current_app.config["CONFIRM_RATE_LIMIT"]


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(_confirm_limit, methods=["POST"])
def confirm(token: str) -> Response | tuple[str, int]:
    """GET shows a button, POST confirms: a link scanner's GET changes nothing."""
    signature, text = _linked_signature(Purpose.CONFIRM, token)
    if request.method == "POST":
        if not ButtonForm().validate_on_submit():
            abort(400)
        outcome = signature_states.confirm(signature)
        db.session.commit()
        if outcome != signature_states.ConfirmOutcome.CLOSED:
            return redirect(url_for(".confirm", token=token), code=303)
    return _confirm_page(signature, text, token)


def _confirm_page(
    signature: Signature, text: InitiativeText | None, token: str, problem: str | None = None
) -> tuple[str, int]:
    """The confirmation link's page: the button, the thanks, or why neither.  With
    ``problem`` (the button's form had expired) the button comes again, with it."""
    initiative = signature.initiative
    status = 200
    if signature.state == SignatureState.PENDING and not initiative.accepts_confirmations():
        status = 409
    elif signature.state not in (SignatureState.PENDING, SignatureState.CONFIRMED) or (
        signature.state == SignatureState.PENDING and signature.anonymised_at is not None
    ):
        status = 410  # gone, or erased at its signer's request
    elif signature.state == SignatureState.PENDING and problem:
        status = 400
    else:
        problem = None

    # The name and postcode being confirmed, on the pending page: made here, once, so
    # that the cached page can be filled in with them (see ``live`` below).
    signer = _signer_fragments(signature) if signature.state == SignatureState.PENDING else {}

    def render() -> str:
        # The button's form is made only when the page is rendered, not when its
        # skeleton comes from the cache.
        return render_template(
            "signing/confirm.html",
            initiative=initiative,
            text=text,
            signature=signature,
            form=ButtonForm(),
            closed=status == 409,
            problem=problem,
            **signer,
        )

    if status != 200:
        return render(), status
    # Pending ("confirm?") or confirmed ("thank you, N of M"): the same page for every
    # signature of the initiative in that state, apart from the tokens, the signer's
    # name and postcode on the pending page (whether a postcode was given is in the
    # key, as the names of the fragments), and, on the confirmed page, the count, which
    # every confirmation moves: it is rendered alone and put into the cached page.
    live: dict[str, str] = dict(signer)
    withdrawn = initiative.state == InitiativeState.WITHDRAWN
    if signature.state == SignatureState.CONFIRMED and not withdrawn:
        live["progress"] = str(get_template_attribute("macros/forms.html", "progress")(initiative))
    shown = (
        "signing/confirm.html",
        signature.state,
        withdrawn,
        initiative.slug,
        initiative.threshold,
        text.locale if text else None,
        text.title if text else None,
    )
    return cached_skeleton(shown, token, render, live), status


def _signer_fragments(signature: Signature) -> dict[str, Markup]:
    """The pending page's name (and postcode, if given) as the page shows them: escaped,
    in ``<bdi>`` (a name in Arabic letters inside a Swedish sentence, or the reverse)
    and the postcode left to right (else a right-to-left page shows "14 212").  Made
    without a template, as each request of a cached page needs its own."""
    box = crypto()
    fragments = {"signer_name": isolate(box.decrypt(signature.name_enc) or "")}
    postcode = box.decrypt(signature.postcode_enc)
    if postcode:
        fragments["signer_postcode"] = Markup('<bdi dir="ltr">{}</bdi>').format(postcode)
    return fragments


@bp.route("/withdraw/<token>", methods=["GET", "POST"])
@limiter.limit(_confirm_limit, methods=["POST"])
def withdraw(token: str) -> Response | tuple[str, int]:
    """GET shows a button, POST withdraws, until the initiative is submitted."""
    signature, text = _linked_signature(Purpose.WITHDRAW, token)
    if request.method == "POST":
        if not ButtonForm().validate_on_submit():
            abort(400)
        outcome = signature_states.withdraw(signature)
        db.session.commit()
        refused = (
            signature_states.WithdrawOutcome.CLOSED,
            signature_states.WithdrawOutcome.NOT_WITHDRAWABLE,
        )
        if outcome in refused:
            return _withdraw_page(signature, text, 409)
        return redirect(url_for(".withdraw", token=token), code=303)
    return _withdraw_page(signature, text)


def _withdraw_page(
    signature: Signature,
    text: InitiativeText | None,
    status: int = 200,
    problem: str | None = None,
) -> tuple[str, int]:
    """The withdrawal link's page; with ``problem``, as ``_confirm_page``."""
    withdrawn = signature.state == SignatureState.WITHDRAWN
    if status == 200 and not withdrawn and not signature.initiative.accepts_withdrawals():
        status = 409
    if status == 200 and not withdrawn and signature.withdrawn_at is None and problem:
        status = 400
    else:
        problem = None
    return (
        render_template(
            "signing/withdraw.html",
            initiative=signature.initiative,
            text=text,
            signature=signature,
            form=ButtonForm(),
            closed=status == 409,
            problem=problem,
        ),
        status,
    )
