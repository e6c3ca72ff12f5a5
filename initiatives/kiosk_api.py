"""The tablet's script sends its signatures here: live, or replayed from its offline queue.

A queued entry comes sealed (kiosk_queue): it is opened here, refused if it waited too
long or cannot be opened, and then treated exactly like a live one.  The answers are
JSON the script knows (static/js/kiosk-queue.js, ``classify``).  A device-bound token
stands in for the page-bound CSRF token, which a queued entry does not carry.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, jsonify, request
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from . import kiosk_queue, kiosk_signatures, kiosks, signatures
from .extensions import csrf, db, limiter
from .i18n import DEFAULT, available_locales
from .kiosk import bp, form_submission, kiosk_limit
from .kiosk_device import device_key
from .kiosk_forms import SubmissionForm

TOKEN_HEADER = "X-Kiosk-Token"  # noqa: S105 (a header name, not a secret)


def _answer(status: str, code: int, **fields: Any) -> tuple[Response, int]:
    return jsonify(status=status, **fields), code


def _opened(kiosk: kiosks.Kiosk) -> MultiDict | tuple[Response, int]:
    """The submission's fields, with a sealed entry from the queue opened; or the answer.

    A queued entry past ``KIOSK_QUEUE_MAX_DAYS`` and a sealed one that cannot be opened
    are refused with 422 and a status the script knows ("too_old", "unreadable"): it
    deletes them and counts them as not delivered.  Keys that DATA_KEY cannot decrypt
    are the server's fault: 503, and the tablet keeps the entry.
    """
    data = request.form
    queued = data.get("queued") == "1" or "sealed" in data
    if queued and kiosk_queue.too_old(data.get("signed_at")):
        return _answer("too_old", 422, message=_("Underskriften väntade för länge på surfplattan."))
    if "sealed" not in data:
        return data
    try:
        personal = kiosk_queue.open_sealed(
            kiosk,
            data["sealed"],
            client_uuid=data.get("client_uuid", ""),
            initiative=data.get("initiative", ""),
            signed_at=data.get("signed_at", ""),
        )
    except kiosk_queue.Unreadable as exc:
        message = _("Underskriften från surfplattans kö gick inte att öppna.")
        return _answer("unreadable", 422, reason=exc.reason, message=message)
    except kiosk_queue.KeysUnavailable:
        current_app.logger.error("kiosk %s: queue keys do not decrypt under DATA_KEY", kiosk.id)
        return _answer("error", 503)
    opened = MultiDict((k, v) for k, v in data.items(multi=True) if k not in personal)
    opened.update(personal)
    return opened


@bp.post("/api/submissions")
@limiter.limit(kiosk_limit, key_func=device_key)
def api_submit() -> tuple[Response, int]:
    """A signature from the tablet's script, now or replayed from its offline queue.

    Answers: 200 received (also for a repeat of a UUID already received, so a lost
    acknowledgement is harmless), 422 invalid fields (or a queued entry too old or
    unreadable: see ``_opened``), 409 initiative closed, 403 device or initiative not
    allowed.  The script keeps a queued entry on 403, 429 and 5xx.  A queued entry
    comes sealed (kiosk_queue); once opened it is treated exactly like a live one.
    """
    kiosk = g.kiosk
    if kiosk is None or not kiosks.check_device_token(
        kiosk, g.device_secret, request.headers.get(TOKEN_HEADER)
    ):
        return _answer("locked", 403)
    lang = request.form.get("lang")
    lang = lang if lang in available_locales() else DEFAULT
    with force_locale(lang):
        formdata = _opened(kiosk)
        if not isinstance(formdata, MultiDict):
            return formdata
        form = SubmissionForm(formdata=formdata)
        if not form.validate():
            errors = {
                name: str(field.errors[0]) for name, field in form._fields.items() if field.errors
            }
            return _answer("invalid", 422, errors=errors)
        if kiosk_signatures.already_received(kiosk, form.client_uuid.data):
            return _answer("received", 200, uuid=form.client_uuid.data)
        try:
            initiative = kiosks.assigned_initiative(kiosk, form.initiative.data)
        except kiosks.NotAssignedError:
            return _answer("not_assigned", 403)
        submission = form_submission(
            form,
            lang,
            client_uuid=form.client_uuid.data,
            device_signed_at=kiosk_signatures.parse_device_time(form.signed_at.data),
        )
        try:
            kiosk_signatures.submit(kiosk, initiative, submission)
        except signatures.InitiativeClosedError:
            db.session.rollback()
            return _answer("closed", 409, message=_("Insamlingen är stängd."))
    db.session.commit()
    return _answer("received", 200, uuid=form.client_uuid.data)


csrf.exempt(api_submit)  # it checks the device-bound token instead (see the docstring)
