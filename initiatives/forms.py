"""Forms.  Every POST is a Flask-WTF form (CSRF included), button-only ones too."""

from __future__ import annotations

import re

import email_validator
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from . import email_typos, names

# Control characters (NUL included) and the replacement character left by undecodable
# bytes have no place in a name or an address.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def printable_text(form: FlaskForm, field: StringField) -> None:
    if field.data and _FORBIDDEN.search(field.data):
        raise ValidationError(_l("Fältet innehåller tecken som inte är tillåtna."))


def strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class DeliverableEmail(Email):
    """An address our mail can reach.

    Like WTForms' ``Email``, but an address with letters beyond ASCII before the @ is
    refused with its own message (it needs SMTPUTF8, which many mail servers lack, so
    the confirmation link would never arrive), and an internationalised domain
    (``exämple.se``) is kept in its ASCII form (``xn--exmple-cua.se``), which every
    server accepts and which makes both spellings one address.
    """

    def __init__(self, message: str, non_ascii_message: str):
        super().__init__(message=message, check_deliverability=False, allow_smtputf8=False)
        self.non_ascii_message = non_ascii_message

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        value = field.data or ""
        if not value.rpartition("@")[0].isascii():
            raise ValidationError(self.non_ascii_message)
        try:
            valid = email_validator.validate_email(
                value, check_deliverability=False, allow_smtputf8=False
            )
        except email_validator.EmailNotValidError as error:
            raise ValidationError(self.message) from error
        if not value.isascii():
            field.data = valid.ascii_email


def signer_email_field() -> StringField:
    """The e-mail field of every form a resident fills in."""
    return StringField(
        _l("E-postadress"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv din e-postadress.")),
            Length(max=254, message=_l("E-postadressen får vara högst 254 tecken.")),
            printable_text,
            DeliverableEmail(
                message=_l("Skriv en giltig e-postadress, till exempel namn@example.com."),
                non_ascii_message=_l(
                    "Vi kan inte skicka e-post till en adress med å, ä, ö eller andra "
                    "tecken utanför a–z före @. Skriv en annan adress."
                ),
            ),
        ],
    )


class SignForm(FlaskForm):
    """The public sign form; field names are a stable interface (see DESIGN.md)."""

    name = StringField(
        _l("Namn"),
        filters=[names.clean],
        validators=[
            DataRequired(_l("Skriv ditt namn.")),
            Length(max=names.MAX_NAME_LENGTH, message=_l("Namnet får vara högst 200 tecken.")),
            printable_text,
            names.NoAddress(),
        ],
    )
    email = signer_email_field()
    postcode = StringField(
        _l("Postnummer (frivilligt)"),
        filters=[strip],
        validators=[
            Optional(),
            Length(
                max=10, message=_l("Skriv postnumret som fem siffror, till exempel 212\u00a014.")
            ),
            Regexp(
                r"^\d{3}\s?\d{2}$",
                message=_l("Skriv postnumret som fem siffror, till exempel 212\u00a014."),
            ),
        ],
    )
    resident = BooleanField(
        _l("Jag är folkbokförd i Malmö."),
        validators=[DataRequired(_l("Du behöver vara folkbokförd i Malmö för att skriva under."))],
    )
    consent = BooleanField(
        _l(
            "Jag samtycker till att mina uppgifter behandlas för det här initiativet, "
            "enligt integritetspolicyn."
        ),
        validators=[DataRequired(_l("Vi behöver ditt samtycke för att ta emot underskriften."))],
    )
    # Where the signer came from (?src= on the link or QR code); checked by the view.
    # Not refused however long: a value that is none of the initiative's tags is simply
    # not recorded (``campaign.known_tag``); an error on a hidden field would show nowhere.
    src = HiddenField()
    # The SHA-256 of the text the page showed: a correction made while the signer read it
    # must not be recorded as what they signed.  Checked by the view, never refused.
    text_version = HiddenField()
    # Honeypot: hidden from people by CSS and aria-hidden, filled in by simple bots.
    website = StringField(_l("Lämna det här fältet tomt"), validators=[Optional()])
    # "Menade du …?" (email_typos): the address the signer was asked about, so that it is
    # not asked again, and the value of the button that takes the suggestion instead.
    # Neither is refused: an address asked about that is not the one typed means nothing
    # was asked, and a suggestion taken is the address, checked as one (``chosen_address``);
    # their own errors would name a hidden field and a button, which no message points to.
    email_asked = HiddenField()
    email_suggested = StringField()

    def address_to_ask(self) -> str | None:
        """The address to suggest for the one typed, if it looks like a typo that was
        not asked about yet; then the form remembers it was asked.

        From the text alone, before any lookup: the answer is the same whether or not
        the address has signed."""
        suggested = email_typos.suggestion(self.email.data or "")
        if suggested is None or same_address(self.email_asked.data, self.email.data):
            return None
        self.email_asked.data = self.email.data
        return suggested


def same_address(a: str | None, b: str | None) -> bool:
    return (a or "").strip().casefold() == (b or "").strip().casefold()


def chosen_address(formdata: MultiDict) -> MultiDict:
    """A sign form as sent, with the suggested address in place of the typed one when
    its button was pressed, so that it goes through the same checks.

    Only while the typed address is the one asked about: an address changed after the
    question is checked as typed, whichever button sent it.  (Enter in a field presses
    the form's first submit button, a nameless one before the suggestion's: see
    templates/signing/_suggestion.html.)"""
    suggested = formdata.get("email_suggested")
    if not suggested or not same_address(formdata.get("email_asked"), formdata.get("email")):
        return formdata
    chosen = MultiDict(formdata)
    chosen["email"] = suggested
    return chosen


class ButtonForm(FlaskForm):
    """A form that is only a button (confirm, withdraw): CSRF is its content."""


class DataRequestForm(FlaskForm):
    """The subject-access request ("what do you store about me?"): only an address."""

    email = signer_email_field()
    # Honeypot, as on the sign form.
    website = StringField(_l("Lämna det här fältet tomt"), validators=[Optional()])
