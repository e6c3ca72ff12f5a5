"""The stand tablet: enrolment, the signer-after-signer loop, volunteer controls, offline.

Every request re-reads the device cookie and checks the kiosk in the database, so a
revoked tablet is locked out on its next request.  The loop never keeps a signer's data
on a page the next signer can reach: each screen is a fresh page reached by replacing
the history entry, pages are ``no-store``, fields are ``autocomplete="off"``.  The
script (static/js/kiosk.js) sends signatures to ``/kiosk/api/submissions`` (kiosk_api)
with a UUID and a device-bound token, and queues them in IndexedDB while the network is
down.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from wtforms.validators import DataRequired, Email, InputRequired, Regexp

from . import email_typos, kiosk_queue, kiosk_signatures, kiosks, names, signatures
from .errors import CSRF_MESSAGE, ENCODING_MESSAGE, MESSAGES
from .extensions import db, limiter
from .forms import DeliverableEmail, chosen_address
from .i18n import DEFAULT, available_locales, native_name, text_direction
from .kiosk_device import (
    COOKIE_PATH,
    device_key,
    forget_stale_cookie,
    load_device,
    set_device_cookie,
)
from .kiosk_forms import EnrolForm, KioskSignForm
from .security import UndecodableForm

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")
bp.before_request(load_device)
bp.after_request(forget_stale_cookie)

UNLOCK_KEY = "kiosk_unlocked"
SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "js" / "kiosk-sw.js"
SHELL_ASSETS = (
    "css/site.css",
    "css/kiosk.css",
    "js/kiosk-queue.js",
    "js/kiosk-sign.js",
    "js/kiosk.js",
    "img/logo.svg",
    "img/favicon.svg",
    # The Arabic and Persian screens use them (site.css); without them kept here, an
    # offline tablet would draw those screens in whatever font it has, or in boxes.
    "fonts/NotoSansArabic-Regular.ttf",
    "fonts/NotoSansArabic-Bold.ttf",
)


@bp.errorhandler(400)  # also CSRF and undecodable forms, ahead of the site's handlers
@bp.errorhandler(HTTPException)
def kiosk_error(exc: HTTPException) -> Any:
    """JSON for the tablet's script; otherwise an error screen that stays in the kiosk
    (the site's error page links out of it, and a signer should not wander off)."""
    if exc.code is None or exc.code < 400:
        return exc
    if request.path.startswith("/kiosk/api/"):
        return jsonify(status="error", code=exc.code), exc.code
    lang = (request.view_args or {}).get("lang")
    lang = lang if lang in available_locales() else DEFAULT
    if isinstance(exc, CSRFError):
        message = CSRF_MESSAGE
    elif isinstance(exc, UndecodableForm):
        message = ENCODING_MESSAGE
    else:
        message = MESSAGES.get(exc.code, MESSAGES[400 if exc.code < 500 else 500])[1]
    return render("kiosk/error.html", lang, exc.code, code=exc.code, message=message)


def enrolled_kiosk() -> kiosks.Kiosk:
    """The enrolled kiosk, or back to /kiosk (which then shows only enrolment)."""
    if g.kiosk is None:
        abort(redirect(url_for(".start"), code=303))
    return g.kiosk


def _lang(code: str) -> str:
    if code not in available_locales():
        abort(404)
    return code


def render(template: str, lang: str = DEFAULT, status: int = 200, **context: Any) -> Any:
    """Render in the kiosk's language of the moment (never the site's language cookie).

    The start screen and the volunteer's pages are Swedish; each signer's pages are in
    the language they chose, which no cookie remembers for the next signer.
    """
    kiosk = g.get("kiosk")
    with force_locale(lang):
        body = render_template(
            template,
            kiosk=kiosk,
            device_token=kiosks.device_token(kiosk, g.device_secret) if kiosk else None,
            kiosk_languages=[(c, native_name(c), text_direction(c)) for c in available_locales()],
            **context,
        )
    return body, status


# --- enrolment ---------------------------------------------------------------------------


def _enrol_page(form: EnrolForm, status: int = 200) -> Any:
    return render("kiosk/enrol.html", status=status, form=form)


@bp.get("/")
def slash() -> Response:
    return redirect(url_for(".start"))


@bp.get("")
def start() -> Any:
    """Enrolment for an unknown device; the start screen of the loop for an enrolled one."""
    if g.kiosk is None:
        return _enrol_page(EnrolForm())
    _ensure_queue_key(g.kiosk)
    initiative = kiosks.current_initiative(g.kiosk)
    closed = initiative is None or not initiative.accepts_signatures()
    return render(
        "kiosk/start.html",
        shell_version=shell_version(g.kiosk),
        initiative=initiative,
        text=initiative.text(DEFAULT) if initiative else None,
        closed_in_languages=_closed_in_languages() if closed else [],
    )


def _closed_in_languages() -> list[tuple[str, str, str]]:
    """The closed start screen's heading in each other language the tablet offers, for
    the resident who walks up to it: that screen is Swedish, as the volunteer's are, and
    it has no language to choose.  (code, direction, heading)"""
    lines = []
    for code in available_locales():
        if code == DEFAULT:
            continue
        with force_locale(code):
            lines.append(
                (code, text_direction(code), _("Här går det inte att skriva under just nu"))
            )
    return lines


def _ensure_queue_key(kiosk: kiosks.Kiosk) -> None:
    """A tablet enrolled before queue keys existed gets its key pair on its next start
    screen (which also refreshes its cached sign screens, where the public key is)."""
    if kiosk.queue_public_key is not None:
        return
    db.session.refresh(kiosk, with_for_update=True)  # two tabs at once make one key
    if kiosk.queue_public_key is None:
        kiosk_queue.new_binding_key(kiosk)
    db.session.commit()


@bp.get("/enrol/<code>")
def enrol_link(code: str) -> Any:
    """The address in the organiser's QR code: the enrolment form with the code filled in."""
    form = EnrolForm(code=kiosks.format_code(kiosks.normalise_code(code)[:8]))
    return _enrol_page(form)


def _enrol_limit() -> str:
    return current_app.config["KIOSK_ENROL_RATE_LIMIT"]


@bp.post("/enrol")
@limiter.limit(_enrol_limit)
def enrol() -> Any:
    form = EnrolForm()
    if not form.validate_on_submit():
        return _enrol_page(form, 400)
    try:
        kiosk, secret = kiosks.enrol(form.code.data, form.pin.data)
    except kiosks.EnrolmentError as exc:
        with force_locale(DEFAULT):
            message = (
                _("Koden har gått ut. Be en organisatör om en ny kod.")
                if exc.reason == "expired"
                else _("Koden stämmer inte. Kontrollera den, eller be om en ny kod.")
            )
        form.code.errors = [message]
        return _enrol_page(form, 400)
    db.session.commit()
    session.pop(UNLOCK_KEY, None)
    response = redirect(url_for(".start"), code=303)
    set_device_cookie(response, kiosk, secret)
    return response


# --- the loop ----------------------------------------------------------------------------


def _client_messages(form: KioskSignForm) -> dict[str, dict[str, Any]]:
    """The form's own validation messages, for the script's checks before queueing."""
    found: dict[str, dict[str, Any]] = {}
    for field in form:
        entry: dict[str, Any] = {}
        for validator in field.validators:
            if isinstance(validator, DataRequired | InputRequired):
                entry["required"] = validator.message
            elif isinstance(validator, Email | Regexp):
                entry.setdefault("format", validator.message)
            if isinstance(validator, DeliverableEmail):
                # Letters beyond ASCII before the @: refused by the server, so refused
                # before queueing too (offline the signer would be told "saved").
                entry["ascii"] = validator.non_ascii_message
            if isinstance(validator, names.NoAddress):
                # A web or e-mail address in the name, the same way: the server's own
                # pattern, checked on the name as the server reads it (the invisible
                # marks its filter takes out, out).
                entry["address"] = validator.message
                entry["address_pattern"] = validator.client_pattern
                entry["invisible_pattern"] = names.INVISIBLE.pattern
        found[field.name] = entry
    found["email"]["suggest"] = _suggestion_rule()
    return found


def _suggestion_rule() -> dict[str, Any]:
    """What the script needs to ask "Menade du …?" as the server does (email_typos):
    the same lists and limit, and the sentences with ``{address}`` where the address
    goes."""
    return {
        "providers": " ".join(email_typos.PROVIDERS),
        "lookalikes": " ".join(email_typos.LOOKALIKES),
        "name_edits_from": email_typos.NAME_EDITS_FROM,
        "question": _l("Menade du %(address)s?", address="{address}"),
        "take": _l("Ja, skriv under med %(address)s", address="{address}"),
    }


def _initiative_for(
    lang: str, form: KioskSignForm, status: int = 200, suggested: str | None = None
) -> Any:
    initiative = kiosks.current_initiative(g.kiosk)
    if initiative is None or not initiative.accepts_signatures():
        return render("kiosk/closed.html", lang, 409, initiative=initiative)
    text = initiative.text(lang)
    if not form.initiative.data:
        form.initiative.data = initiative.slug
    # The text this screen shows: a signature queued offline names it (see texts).
    form.text_version.data = initiative.text_hash
    return render(
        "kiosk/sign.html",
        lang,
        status,
        initiative=initiative,
        text=text,
        fallback=text is not None and text.locale != lang,
        form=form,
        client_messages=_client_messages(form),
        suggested=suggested,
        queue_key_id=kiosk_queue.public_key_id(g.kiosk),
    )


@bp.get("/sign/<lang>")
def sign_page(lang: str) -> Any:
    _ensure_queue_key(enrolled_kiosk())
    return _initiative_for(_lang(lang), KioskSignForm())


def kiosk_limit() -> str:
    return current_app.config["KIOSK_RATE_LIMIT"]


def form_submission(form: KioskSignForm, lang: str, **extra: Any) -> kiosk_signatures.Submission:
    """What the sign form holds, as the domain takes it (the API adds the queue's fields)."""
    return kiosk_signatures.Submission(
        name=form.name.data,
        email=form.email.data,
        postcode=form.postcode.data,
        locale=lang,
        text_version=form.text_version.data,
        **extra,
    )


@bp.post("/sign/<lang>")
@limiter.limit(kiosk_limit, key_func=device_key)
def sign(lang: str) -> Any:
    """The form without the script: the same rules, then POST-redirect-GET."""
    kiosk = enrolled_kiosk()
    lang = _lang(lang)
    form = KioskSignForm(formdata=chosen_address(request.form))
    with force_locale(lang):
        valid = form.validate_on_submit()
    if not valid:
        return _initiative_for(lang, form, 400)
    suggested = form.address_to_ask()
    if suggested:
        return _initiative_for(lang, form, suggested=suggested)  # nothing wrong yet: choose
    try:
        initiative = kiosks.assigned_initiative(kiosk, form.initiative.data)
        kiosk_signatures.submit(kiosk, initiative, form_submission(form, lang))
    except kiosks.NotAssignedError:
        abort(403)
    except signatures.InitiativeClosedError:
        db.session.rollback()
        return render("kiosk/closed.html", lang, 409, initiative=initiative)
    db.session.commit()
    return redirect(url_for(".thanks", lang=lang), code=303)


@bp.get("/thanks/<lang>")
def thanks(lang: str) -> Any:
    """The same page whatever happened to the address (it never says who signed)."""
    enrolled_kiosk()
    return render("kiosk/thanks.html", _lang(lang), saved=False)


@bp.get("/saved/<lang>")
def saved(lang: str) -> Any:
    """Shown (from the tablet's cache) when a signature waits in the offline queue."""
    enrolled_kiosk()
    return render("kiosk/thanks.html", _lang(lang), saved=True)


@bp.get("/privacy/<lang>")
def privacy_notice(lang: str) -> Any:
    """The privacy notice inside the loop, so that consent is informed (the public page
    would leave the kiosk).  The sign page shows it over the form; this screen is where
    its link leads without the script."""
    enrolled_kiosk()
    return render("kiosk/privacy.html", _lang(lang))


# --- offline shell -------------------------------------------------------------------------


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, from a URL under /kiosk so that it may control the kiosk."""
    response = Response(SERVICE_WORKER.read_bytes(), mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = COOKIE_PATH
    # The browser checks for a new worker on each visit; an ETag makes that cheap.
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


# What the cached screens take from the settings: the days to confirm, the privacy
# notice's controller and retention periods, and the screens' own timings (a changed
# idle time must reach the tablets without a new release).  tests/test_kiosk.py finds
# every ``config.X`` the screens' templates read and fails on one missing here.
SCREEN_SETTINGS = (
    "CONFIRM_DAYS",
    "MAILS_PER_ADDRESS_PER_DAY",
    "ORGANISATION_NAME",
    "ORGANISATION_EMAIL",
    "ANONYMISE_AFTER_DAYS",
    "CLIENT_HASH_RETENTION_DAYS",
    "OUTBOX_RETENTION_DAYS",
    "UNCONFIRMED_RETENTION_DAYS",
    "KIOSK_QUEUE_MAX_DAYS",
    "KIOSK_FLUSH_SECONDS",
    "KIOSK_IDLE_SECONDS",
    "KIOSK_IDLE_WARNING_SECONDS",
    "KIOSK_READING_IDLE_SECONDS",
    "KIOSK_THANKS_SECONDS",
)


# What the tablet's cached screens are made of besides the database: their templates and
# those they include, the scripts and styles, and the translations' sources.
SHELL_SOURCES = (
    "templates/kiosk/*.html",
    "templates/signing/_*.html",
    "templates/pages/_privacy_notice.html",
    "templates/macros/*.html",
    "static/**/*.[jc]s*",
    "initiatives/translations/*/LC_MESSAGES/messages.po",
)


def sources_digest(root: Path) -> str:
    """A digest of the contents of ``SHELL_SOURCES`` under ``root``.

    Contents, not modification times: the same on every instance of one release (behind
    one proxy, times that differ between instances made a tablet download every screen
    again as its requests alternated), and changed by any release that changes what a
    screen shows, a template a kiosk screen includes (the proposal's text, the form
    macros) or a translation among them; the stamp used to miss those."""
    digest = hashlib.sha256()
    for path in sorted({path for pattern in SHELL_SOURCES for path in root.glob(pattern)}):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _build_stamp() -> str:
    """Changes when what the kiosk's screens are built from changes (a new release)."""
    return sources_digest(SERVICE_WORKER.parent.parent.parent)


def shell_version(kiosk: kiosks.Kiosk) -> str:
    """A fingerprint of what the cached screens show, so the tablet refreshes its copy
    only when it changed (a switch of initiative, a new device token, a new release)
    instead of downloading every screen after every signer."""
    initiative = kiosks.current_initiative(kiosk)
    parts = [
        str(kiosk.id),
        kiosk.device_hash or "",
        kiosk.queue_public_key or "",
        _build_stamp(),
        ",".join(available_locales()),
        *(str(current_app.config[name]) for name in SCREEN_SETTINGS),
    ]
    if initiative is not None:
        parts += [str(initiative.id), initiative.state, initiative.compute_text_hash()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@bp.get("/shell.json")
def shell() -> Response:
    """What the service worker keeps for offline use: the loop's pages and assets."""
    if g.kiosk is None:
        abort(403)
    pages = [url_for(".start")]
    for code in available_locales():
        views = (".sign_page", ".privacy_notice", ".thanks", ".saved")
        pages += [url_for(v, lang=code) for v in views]
    assets = [url_for("static", filename=name) for name in SHELL_ASSETS]
    return jsonify(version=shell_version(g.kiosk), pages=pages, assets=assets)


# The script's submissions and the volunteer's controls are views of this blueprint too,
# kept in their own modules.
from . import kiosk_api, kiosk_volunteer  # noqa: E402, F401
