"""Forms of the abuse review: which bursts to show, which signatures to select, and why."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from .. import abuse, bursts
from ..clock import LOCAL_TZ
from ..forms import printable_text, strip

# The browser's datetime-local value ("T" between date and time), with or without seconds.
TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
# GET forms change nothing and are linked to, so they carry no CSRF token.
GET_FORM = {"csrf": False}
SELECTION_FIELDS = ("client", "domain", "kiosk", "since", "until")
REASONS = {
    abuse.Reason.AUTOMATED: _l("Automatiserad: ett skript eller en bot skrev under"),
    abuse.Reason.DUPLICATE_PERSON: _l("Samma person under flera adresser"),
    abuse.Reason.NOT_ELIGIBLE: _l("Inte folkbokförd i Malmö"),
    abuse.Reason.FAKE_IDENTITY: _l("Påhittat namn eller någon annans namn"),
    abuse.Reason.TEST: _l("Test gjort av organisatörerna"),
    abuse.Reason.OTHER: _l("Annat (förklara i anteckningen)"),
}


def lower(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


def within_years(form: FlaskForm, field: DateTimeLocalField) -> None:
    """No signature is from another millennium; year 1 in Swedish time would not even
    convert to UTC for the query."""
    if field.data is not None and not 2000 <= field.data.year <= 2999:
        raise ValidationError(_l("Skriv en tid mellan år 2000 och 2999."))


class BurstForm(FlaskForm):
    """How dense a cluster must be to be shown (a GET form: built with ``GET_FORM``)."""

    window = IntegerField(
        _l("Tidsfönster i minuter"),
        default=bursts.DEFAULT_WINDOW.seconds // 60,
        validators=[
            InputRequired(_l("Skriv ett antal minuter.")),
            NumberRange(min=1, max=7 * 24 * 60, message=_l("Välj 1 till 10080 minuter.")),
        ],
    )
    threshold = IntegerField(
        _l("Minsta antal underskrifter"),
        default=bursts.DEFAULT_THRESHOLD,
        validators=[
            InputRequired(_l("Skriv ett antal.")),
            NumberRange(min=2, max=100_000, message=_l("Välj ett antal från 2.")),
        ],
    )


class SelectionForm(FlaskForm):
    """Which signatures: criteria that combine with AND (a GET form for the preview)."""

    client = StringField(
        _l("Klient (början av klientens kod)"),
        filters=[lower],
        validators=[
            Optional(),
            Regexp(
                rf"^[0-9a-f]{{{abuse.MIN_CLIENT_PREFIX},64}}$",
                message=_l(
                    "Skriv minst %(n)s tecken av koden (0–9, a–f).", n=abuse.MIN_CLIENT_PREFIX
                ),
            ),
        ],
    )
    domain = StringField(
        _l("E-postdomän"),
        filters=[lower],
        validators=[
            Optional(),
            Length(max=253),
            Regexp(
                r"^@?[^\s@]+\.[^\s@]+$",
                message=_l("Skriv en domän, till exempel example.org."),
            ),
        ],
    )
    # Choices (the kiosks that took signatures for this initiative) are set by the view.
    kiosk = SelectField(_l("Surfplatta"), validators=[Optional()])
    since = DateTimeLocalField(
        _l("Från (svensk tid)"),
        format=TIME_FORMATS,
        tz=LOCAL_TZ,
        validators=[Optional(), within_years],
    )
    until = DateTimeLocalField(
        _l("Till och med (svensk tid)"),
        format=TIME_FORMATS,
        tz=LOCAL_TZ,
        validators=[Optional(), within_years],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        # The checks across fields run even when a field failed, so that every problem
        # with the selection shows at once.
        valid = super().validate(extra_validators)
        if not (self.client.data or self.domain.data or self.kiosk.data):
            self.client.errors = [
                *self.client.errors,
                _l("Välj minst en av klient, e-postdomän eller surfplatta: tiden räcker inte."),
            ]
            valid = False
        if self.since.data and self.until.data and self.since.data > self.until.data:
            self.until.errors = [*self.until.errors, _l("Sluttiden är före starttiden.")]
            valid = False
        return valid

    def selection_valid(self) -> bool:
        """Whether the criteria (not the rest of a subclass's fields) passed."""
        return not any(getattr(self, name).errors for name in SELECTION_FIELDS)


class InvalidateForm(SelectionForm):
    """The previewed selection (hidden), the expected count, the reason and a note."""

    expected = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])
    # Which signatures the preview showed (``abuse.Matched.fingerprint``); a form sent
    # without it (one loaded before it existed) is checked by the count alone.
    selected = HiddenField(validators=[Optional(), Regexp(r"^[0-9a-f]{64}$")])
    reason = SelectField(
        _l("Anledning"),
        choices=[SelectChoice("", _l("Välj…"))]
        + [SelectChoice(r.value, label) for r, label in REASONS.items()],
        validators=[DataRequired(_l("Välj en anledning."))],
    )
    note = TextAreaField(
        _l("Anteckning (syns för organisatörer)"),
        filters=[strip],
        validators=[Optional(), Length(max=1000), printable_text],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.reason.data == abuse.Reason.OTHER and not self.note.data:
            self.note.errors = [*self.note.errors, _l("Förklara i anteckningen varför.")]
            valid = False
        return valid
