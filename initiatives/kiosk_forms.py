"""Forms of the stand tablet: enrolment, the PIN, the volunteer's controls, the sign form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, RadioField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, Regexp

from .forms import SignForm, strip
from .i18n import ascii_digits

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PIN_MESSAGE = _l("PIN-koden ska vara 4 till 12 siffror.")


class EnrolForm(FlaskForm):
    """The one-time code from an organiser and the volunteer's own PIN."""

    code = StringField(
        _l("Kod"),
        filters=[strip, ascii_digits],
        validators=[
            DataRequired(_l("Skriv koden du har fått av en organisatör.")),
            Length(max=20, message=_l("Koden har 8 tecken, till exempel ABCD-2345.")),
            Regexp(r"^[A-Za-z0-9 -]+$", message=_l("Koden har 8 tecken, till exempel ABCD-2345.")),
        ],
    )
    pin = PasswordField(
        _l("Välj en PIN-kod"),
        filters=[ascii_digits],
        validators=[DataRequired(PIN_MESSAGE), Regexp(r"^\d{4,12}$", message=PIN_MESSAGE)],
    )
    pin_again = PasswordField(
        _l("Skriv PIN-koden igen"),
        filters=[ascii_digits],
        validators=[
            DataRequired(_l("Skriv PIN-koden en gång till.")),
            EqualTo("pin", message=_l("PIN-koderna är inte likadana.")),
        ],
    )


class PinForm(FlaskForm):
    pin = PasswordField(
        _l("PIN-kod"),
        filters=[ascii_digits],
        validators=[DataRequired(_l("Skriv PIN-koden.")), Length(max=12, message=PIN_MESSAGE)],
    )


class SwitchForm(FlaskForm):
    initiative = RadioField(
        _l("Initiativ på skärmen"),
        choices=[],
        validators=[InputRequired(_l("Välj ett initiativ."))],
    )


class KioskSignForm(SignForm):
    """The public sign form without the web's campaign tag and honeypot.

    A tablet is an enrolled device held by a volunteer, not a target for form bots; the
    initiative travels with the form, so a signer signs what they read even if the
    volunteer switched initiative meanwhile.
    """

    src = None
    website = None
    initiative = HiddenField(validators=[DataRequired(), Length(max=80)])


class SubmissionForm(KioskSignForm):
    """A send from the tablet's script, now or later from its offline queue.

    It proves its origin with the device token instead of a page-bound CSRF token (which
    would be long gone when a queued signature is finally sent).
    """

    class Meta:
        csrf = False

    # The script asked "Menade du …?" before it sent or queued (an entry from the queue
    # cannot be asked): the address comes as the signer chose it.
    email_asked = None
    email_suggested = None

    client_uuid = StringField(
        filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
        validators=[DataRequired(), Regexp(UUID_RE)],
    )
    signed_at = StringField(validators=[Optional(), Length(max=40)])
    lang = StringField(validators=[Optional(), Length(max=16)])
