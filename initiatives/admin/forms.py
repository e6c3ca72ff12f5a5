"""Admin forms.  Every POST is one of these (CSRF included)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from .. import names
from ..accounts import Role
from ..forms import DeliverableEmail, printable_text, strip
from ..passwords import MIN_PASSWORD_LENGTH
from ..texts import normalise


def normalised(value: str | None) -> str | None:
    """An initiative text as it is stored (``texts.normalise``), so its length is
    checked as stored."""
    return normalise(value) if isinstance(value, str) else value


SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{1,78}[a-z0-9])$"
# The version of what a page showed of what its form changes (``texts.text_version``,
# ``paper_corrections``): sent back, it says what the change was made from.
VERSION_RE = r"^[0-9a-f]{64}$"


class LoginForm(FlaskForm):
    email = StringField(
        _l("E-postadress"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv din e-postadress.")),
            Length(max=254),
            printable_text,
        ],
    )
    password = PasswordField(
        _l("Lösenord"), validators=[DataRequired(_l("Skriv ditt lösenord.")), Length(max=1000)]
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Kod från appen"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv koden från din app.")),
            Regexp(r"^\d{3}\s?\d{3}$", message=_l("Koden är sex siffror.")),
        ],
    )


def _new_password() -> PasswordField:
    return PasswordField(
        _l("Nytt lösenord"),
        validators=[
            DataRequired(_l("Skriv ett lösenord.")),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=1000,
                message=_l("Lösenordet måste vara minst %(n)s tecken.", n=MIN_PASSWORD_LENGTH),
            ),
        ],
    )


class AccountForm(FlaskForm):
    email = StringField(
        _l("E-postadress"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv en e-postadress.")),
            Length(max=254),
            DeliverableEmail(
                _l("Skriv en giltig e-postadress."),
                _l(
                    "Vi kan inte skicka e-post till en adress med å, ä, ö eller andra "
                    "tecken utanför a–z före @."
                ),
            ),
        ],
    )
    name = StringField(
        _l("Namn"), filters=[strip], validators=[Optional(), Length(max=200), printable_text]
    )
    role = RadioField(
        _l("Roll"),
        choices=[
            SelectChoice(Role.ORGANISER.value, _l("Organisatör: initiativ, underskrifter, export")),
            SelectChoice(Role.ADMIN.value, _l("Administratör: allt, även konton")),
        ],
        default=Role.ORGANISER.value,
        validators=[DataRequired()],
    )
    password = _new_password()


class RoleForm(FlaskForm):
    role = SelectField(
        _l("Roll"),
        choices=[
            SelectChoice(Role.ORGANISER.value, _l("Organisatör")),
            SelectChoice(Role.ADMIN.value, _l("Administratör")),
        ],
    )


class PasswordForm(FlaskForm):
    current = PasswordField(
        _l("Nuvarande lösenord"), validators=[DataRequired(_l("Skriv ditt nuvarande lösenord."))]
    )
    password = _new_password()
    repeat = PasswordField(
        _l("Nytt lösenord igen"),
        validators=[EqualTo("password", message=_l("Lösenorden är inte likadana."))],
    )


class TotpDisableForm(FlaskForm):
    # Its own name, as the enabling form's: the password change form on the same page
    # has an input with the id ``password``, and a label must name one field.
    totp_password = PasswordField(
        _l("Lösenord"), validators=[DataRequired(_l("Skriv ditt lösenord."))]
    )


class TotpEnableForm(FlaskForm):
    """Turning two-factor on takes the password, as turning it off does.

    The field has its own name: the password change form on the same page already has
    an input with the id ``password``.
    """

    totp_password = PasswordField(
        _l("Lösenord"), validators=[DataRequired(_l("Skriv ditt lösenord."))]
    )


# --- initiatives ---------------------------------------------------------------------------


class InitiativeForm(FlaskForm):
    slug = StringField(
        _l("Adress (slug)"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv en kort adress.")),
            Regexp(
                SLUG_RE,
                message=_l("Använd 3–80 små bokstäver a–z, siffror och bindestreck."),
            ),
        ],
    )
    threshold = IntegerField(
        _l("Antal underskrifter som behövs"),
        default=100,
        validators=[
            DataRequired(_l("Skriv ett antal.")),
            NumberRange(min=1, max=1_000_000, message=_l("Skriv ett antal från 1.")),
        ],
    )
    period_months = SelectField(
        _l("Insamlingstid"),
        choices=[
            SelectChoice("3", _l("3 månader")),
            SelectChoice("6", _l("6 månader")),
            SelectChoice("9", _l("9 månader")),
            SelectChoice("12", _l("12 månader")),
        ],
        coerce=int,
        default=6,
    )
    target_body = StringField(
        _l("Mottagare"),
        default="Tekniska nämnden",
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv vem initiativet riktas till.")),
            Length(max=200),
            printable_text,
        ],
    )
    official_url = StringField(
        _l("Länk till initiativet hos Malmö stad (frivilligt)"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=500),
            printable_text,
            URL(require_tld=True, message=_l("Skriv en hel adress som börjar med https://.")),
        ],
    )
    organiser_contact = TextAreaField(
        _l("Kontaktuppgifter för följebrevet"),
        filters=[strip],
        validators=[Optional(), Length(max=1000), printable_text],
    )


class TextForm(FlaskForm):
    title = StringField(
        _l("Rubrik"),
        filters=[normalised],
        validators=[DataRequired(_l("Skriv en rubrik.")), Length(max=200), printable_text],
    )
    summary = TextAreaField(
        _l("Sammanfattning"),
        filters=[normalised],
        validators=[Optional(), Length(max=1000), printable_text],
    )
    body = TextAreaField(
        _l("Förslaget"),
        filters=[normalised],
        validators=[Optional(), Length(max=20000), printable_text],
    )
    seen = HiddenField(validators=[DataRequired(), Regexp(VERSION_RE)])
    # Which form the page showed ("draft" or "amendment"): a draft's page has no reason
    # field, so its save after another organiser published is a conflict, not bad input.
    # Only compared, never stored: any other value counts as no page.
    opened_as = HiddenField()


class AmendForm(TextForm):
    note = TextAreaField(
        _l("Vad rättas och varför"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv vad som rättas och varför.")),
            Length(max=1000),
            printable_text,
        ],
    )


class TextRemoveForm(FlaskForm):
    """The button that removes a language's text from a draft, with the version of the
    text its page showed."""

    seen = HiddenField(validators=[DataRequired(), Regexp(VERSION_RE)])


def without_names_field() -> BooleanField:
    """The organiser's confirmation to hand in or pack a list whose names retention
    removed (``lifecycle.NamesGone`` says when it is needed; shown only then)."""
    return BooleanField(
        _l(
            "Jag förstår att nämnden bara får antalet, inga namn, för de underskrifter "
            "vars namn har tagits bort, och vill fortsätta ändå."
        )
    )


class SubmitForm(FlaskForm):
    submitted_on = DateField(
        _l("Datum då listan lämnades in"),
        validators=[DataRequired(_l("Skriv ett datum som ÅÅÅÅ-MM-DD."))],
    )
    reference = StringField(
        _l("Stadens diarienummer"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv diarienumret.")),
            Length(max=100),
            printable_text,
        ],
    )
    without_names = without_names_field()


class AnswerForm(FlaskForm):
    answered_on = DateField(
        _l("Datum för svaret"), validators=[DataRequired(_l("Skriv ett datum som ÅÅÅÅ-MM-DD."))]
    )
    text = TextAreaField(
        _l("Nämndens svar"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv svaret eller en sammanfattning.")),
            Length(max=20000),
            printable_text,
        ],
    )
    document = FileField(
        _l("Svaret som PDF (frivilligt)"),
        validators=[FileAllowed(["pdf"], _l("Bara PDF-filer går att ladda upp."))],
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Anledning"),
        filters=[strip],
        validators=[DataRequired(_l("Skriv en anledning.")), Length(max=1000), printable_text],
    )


# --- signatures and paper ------------------------------------------------------------------


class InvalidateForm(FlaskForm):
    reason = SelectField(_l("Anledning"), validators=[DataRequired(_l("Välj en anledning."))])
    note = TextAreaField(
        _l("Anteckning"),
        filters=[strip],
        validators=[Optional(), Length(max=1000), printable_text],
    )


class WithdrawRequestForm(FlaskForm):
    received_via = SelectField(
        _l("Hur kom begäran in?"), validators=[DataRequired(_l("Välj hur begäran kom in."))]
    )
    received_on = DateField(
        _l("Datum då begäran kom in"),
        validators=[DataRequired(_l("Skriv ett datum som ÅÅÅÅ-MM-DD."))],
    )


class SheetForm(FlaskForm):
    number = StringField(
        _l("Listans nummer"),
        filters=[strip],
        validators=[DataRequired(_l("Skriv listans nummer.")), Length(max=32), printable_text],
    )
    collected_on = DateField(
        _l("Datum då listan samlades in"),
        validators=[DataRequired(_l("Skriv ett datum som ÅÅÅÅ-MM-DD."))],
    )
    collected_by = StringField(
        _l("Insamlad av"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv vem som samlade in listan.")),
            Length(max=200),
            printable_text,
        ],
    )


class SheetCorrectionForm(SheetForm):
    seen = HiddenField(validators=[DataRequired(), Regexp(VERSION_RE)])


class _RowFields(FlaskForm):
    """What a typed row says of its signer: the name and the postcode."""

    name = StringField(
        _l("Namn"),
        filters=[names.clean],
        validators=[
            DataRequired(_l("Skriv namnet.")),
            Length(max=names.MAX_NAME_LENGTH),
            printable_text,
            # The sign form's rule: a row is a name from a handwritten sheet, and the
            # clerk's list is no place for a link.
            names.NoAddress(_l("Skriv bara namnet, utan webbadress eller e-postadress.")),
        ],
    )
    postcode = StringField(
        _l("Postnummer"),
        filters=[strip],
        validators=[
            Optional(),
            Regexp(
                r"^\d{3}\s?\d{2}$",
                message=_l("Skriv postnumret som fem siffror, till exempel 212 14."),
            ),
        ],
    )


class PaperRowForm(_RowFields):
    signed_on = DateField(
        _l("Datum då raden skrevs under"),
        validators=[DataRequired(_l("Skriv ett datum som ÅÅÅÅ-MM-DD."))],
    )


class PaperRowCorrectionForm(PaperRowForm):
    seen = HiddenField(validators=[DataRequired(), Regexp(VERSION_RE)])


class PaperDecisionForm(FlaskForm):
    """A decision on the paper review page ("different people"), with what the page
    showed of the row and its matches (``paper_review.review_version``).  Not validated here:
    missing, it is refused with its own message, and any other value than the row's
    version now is a page that showed something else (409 either way)."""

    seen = HiddenField()


class DuplicateForm(PaperDecisionForm):
    """The "same person" button, with the organiser's note."""

    note = TextAreaField(
        _l("Anteckning"),
        filters=[strip],
        validators=[
            Optional(),
            Length(max=1000, message=_l("Anteckningen får vara högst 1 000 tecken.")),
            printable_text,
        ],
    )


class PackForm(FlaskForm):
    names = RadioField(
        _l("Namn i listan"),
        choices=[
            SelectChoice("full", _l("Hela namn (för nämnden)")),
            SelectChoice("short", _l("Förkortade namn, till exempel ”Amira H.” (för publicering)")),
        ],
        default="full",
        validators=[DataRequired()],
    )
    without_names = without_names_field()


# --- kiosks and campaign tags ------------------------------------------------------------


class KioskForm(FlaskForm):
    name = StringField(
        _l("Namn"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv ett namn, till exempel Stånd 1.")),
            Length(max=80, message=_l("Namnet får vara högst 80 tecken.")),
            printable_text,
        ],
    )
    # Choices are the initiatives a stand can collect for; set by the view.
    initiatives = SelectMultipleField(
        _l("Initiativ som surfplattan samlar in till"),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[DataRequired(_l("Välj minst ett initiativ."))],
    )


class TagForm(FlaskForm):
    tag = StringField(
        _l("Ny tagg"),
        filters=[strip],
        validators=[
            DataRequired(_l("Skriv en tagg.")),
            Length(max=32, message=_l("En tagg är högst 32 tecken.")),
        ],
    )
