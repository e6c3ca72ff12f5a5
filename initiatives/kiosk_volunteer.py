"""The volunteer's controls on the stand tablet, behind the kiosk's PIN.

Today's count at this kiosk (an aggregate, never who), the offline queue's length (the
tablet's script fills it in), switching among the kiosk's initiatives, and leaving kiosk
mode.  A correct PIN unlocks these for a few minutes, for this kiosk and device only.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, redirect, request, session, url_for
from flask_babel import gettext as _

from . import clock, kiosk_signatures, kiosks
from .extensions import db, limiter
from .forms import ButtonForm
from .i18n import DEFAULT
from .kiosk import UNLOCK_KEY, bp, enrolled_kiosk, render
from .kiosk_device import device_key, forget_device_cookie
from .kiosk_forms import PinForm, SwitchForm
from .models import Initiative

VOLUNTEER_SECONDS = 5 * 60


def _pin_limit() -> str:
    return current_app.config["KIOSK_PIN_RATE_LIMIT"]


def _unlocked_kiosk() -> kiosks.Kiosk:
    kiosk = enrolled_kiosk()
    unlock = session.get(UNLOCK_KEY)
    now = clock.utcnow().timestamp()
    if (
        not isinstance(unlock, dict)
        or unlock.get("k") != kiosk.id
        or unlock.get("d") != (kiosk.device_hash or "")[:16]
        or not isinstance(unlock.get("until"), (int, float))
        or unlock["until"] < now
    ):
        session.pop(UNLOCK_KEY, None)
        abort(redirect(url_for("kiosk.volunteer"), code=303))
    return kiosk


@bp.route("/volunteer", methods=["GET", "POST"])
@limiter.limit(_pin_limit, key_func=device_key, methods=["POST"])
def volunteer() -> Any:
    kiosk = enrolled_kiosk()
    form = PinForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            if kiosks.check_pin(kiosk, form.pin.data):
                session[UNLOCK_KEY] = {
                    "k": kiosk.id,
                    "d": (kiosk.device_hash or "")[:16],
                    "until": clock.utcnow().timestamp() + VOLUNTEER_SECONDS,
                }
                return redirect(url_for("kiosk.panel"), code=303)
            form.pin.errors = [_("PIN-koden stämmer inte.")]
    return render("kiosk/pin.html", status=status, form=form)


def _switch_form(kiosk: kiosks.Kiosk) -> SwitchForm:
    form = SwitchForm()
    current = kiosks.current_initiative(kiosk)
    form.initiative.choices = [
        (i.slug, _title(i)) for i in kiosk.initiatives if i.accepts_signatures()
    ]
    if current is not None and form.initiative.data is None:
        form.initiative.data = current.slug
    return form


def _title(initiative: Initiative) -> str:
    text = initiative.text(DEFAULT)
    return text.title if text else initiative.slug


def _panel(kiosk: kiosks.Kiosk, switch_form: SwitchForm, status: int = 200) -> Any:
    return render(
        "kiosk/panel.html",
        status=status,
        count=kiosk_signatures.today_count(kiosk),
        current=kiosks.current_initiative(kiosk),
        switch_form=switch_form,
        button_form=ButtonForm(),
    )


@bp.get("/volunteer/panel")
def panel() -> Any:
    """Today's count at this kiosk (an aggregate), the queue, switching, leaving."""
    kiosk = _unlocked_kiosk()
    return _panel(kiosk, _switch_form(kiosk))


@bp.post("/volunteer/switch")
def switch() -> Any:
    kiosk = _unlocked_kiosk()
    form = _switch_form(kiosk)
    if not form.validate_on_submit():
        return _panel(kiosk, form, 400)
    initiative = kiosks.assigned_initiative(kiosk, form.initiative.data)
    kiosks.switch(kiosk, initiative, actor=f"kiosk:{kiosk.name}")
    db.session.commit()
    session.pop(UNLOCK_KEY, None)
    return redirect(url_for("kiosk.start"), code=303)


@bp.post("/volunteer/lock")
def lock() -> Response:
    """Back to the loop (also when the panel was left alone): the PIN is needed again."""
    enrolled_kiosk()
    if not ButtonForm().validate_on_submit():
        abort(400)
    session.pop(UNLOCK_KEY, None)
    return redirect(url_for("kiosk.start"), code=303)


@bp.post("/volunteer/leave")
def leave() -> Response:
    """Leave kiosk mode: the device is unbound; enrolling again needs a new code."""
    kiosk = _unlocked_kiosk()
    if not ButtonForm().validate_on_submit():
        abort(400)
    kiosks.unenrol(kiosk, actor=f"kiosk:{kiosk.name}")
    session.pop(UNLOCK_KEY, None)
    db.session.commit()
    response = redirect(url_for("kiosk.start"), code=303)
    forget_device_cookie(response)
    return response
