"""Error pages in the user's language (JSON under /api), never a stack trace."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from . import keycheck
from .crypto import InvalidToken
from .extensions import db
from .logs import get_logger
from .security import UndecodableForm
from .signature_states import ListHandedInError

log = get_logger(__name__)

MESSAGES = {
    400: (
        _l("Något blev fel"),
        _l("Vi kunde inte förstå det som skickades. Gå tillbaka och försök igen."),
    ),
    403: (_l("Ingen åtkomst"), _l("Du har inte tillgång till den här sidan.")),
    404: (
        _l("Sidan finns inte"),
        _l("Vi hittar inte sidan. Kontrollera adressen eller gå till startsidan."),
    ),
    405: (_l("Det går inte att göra så"), _l("Sidan tar inte emot den här sortens förfrågan.")),
    409: (
        _l("Det går inte just nu"),
        _l("Det här går inte att göra i initiativets nuvarande läge."),
    ),
    410: (_l("Länken gäller inte längre"), _l("Länken har gått ut eller används inte längre.")),
    413: (
        _l("För mycket text"),
        _l("Det du skickade var för stort. Korta texten och försök igen."),
    ),
    429: (
        _l("För många försök"),
        _l("Du har gjort för många försök på kort tid. Vänta en stund och försök igen."),
    ),
    503: (
        _l("Tjänsten är tillfälligt otillgänglig"),
        _l(
            "Vi har ett tillfälligt tekniskt problem. Försök igen om en liten stund. "
            "Skrev du just under kan du göra det igen, du räknas bara en gång."
        ),
    ),
    500: (
        _l("Något gick fel hos oss"),
        _l(
            "Ett fel uppstod. Inget av det du redan har skickat har försvunnit. "
            "Försök igen om en stund."
        ),
    ),
}
CSRF_MESSAGE = _l(
    "Formuläret hade gått ut eller kom inte från den här webbplatsen. "
    "Ladda om sidan och försök igen."
)


def error_response(code: int, message: str | None = None) -> tuple[Response | str, int]:
    title, default = MESSAGES.get(code, MESSAGES[400 if code < 500 else 500])
    text = str(message or default)
    if request.path.startswith("/api/"):
        return jsonify(error=code, message=text), code
    return render_template("errors/error.html", code=code, title=title, message=text), code


ENCODING_MESSAGE = _l(
    "Det du skickade innehöll tecken som inte gick att läsa. Skriv texten igen och försök på nytt."
)


def configure_errors(app: Flask) -> None:
    @app.errorhandler(ListHandedInError)
    def handed_in(exc: ListHandedInError) -> tuple[Response | str, int]:
        # The list was handed in while this request ran: nothing of it may stay.
        db.session.rollback()
        return error_response(409)

    @app.errorhandler(keycheck.DataKeyError)
    @app.errorhandler(InvalidToken)
    def unreadable_data(exc: Exception) -> tuple[Response, int]:
        # DATA_KEY does not read the stored data (a restore next to the wrong key, a key
        # dropped before rotate-data-key finished): the operator must act; nothing is
        # stored meanwhile (see keycheck).
        db.session.rollback()
        log.error("DATA_KEY cannot decrypt stored data on %s %s", request.method, request.endpoint)
        body, status = error_response(503)
        response = app.make_response((body, status))
        response.headers["Retry-After"] = "60"
        return response, status

    @app.errorhandler(UndecodableForm)
    def undecodable(exc: UndecodableForm) -> tuple[Response | str, int]:
        return error_response(400, ENCODING_MESSAGE)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int] | HTTPException:
        if exc.code is None or exc.code < 400:
            return exc
        return error_response(exc.code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.endpoint)
        return error_response(500)

    @app.errorhandler(sa.exc.DBAPIError)
    def database_error(exc: sa.exc.DBAPIError) -> tuple[Response | str, int]:
        # The database went away (restart, failover, network) or is locked for too long:
        # the transaction was rolled back, so nothing is half-stored.  Say so with a 503
        # the client may retry; the pool reconnects on the next request (pre-ping).
        try:
            db.session.rollback()
        except sa.exc.SQLAlchemyError:  # pragma: no cover - the connection is gone anyway
            db.session.remove()
        if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            log.exception("database error on %s %s", request.method, request.endpoint)
            return error_response(500)
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.endpoint,
            type(exc.orig).__name__,
        )
        body, status = error_response(503)
        response = app.make_response((body, status))
        response.headers["Retry-After"] = "5"
        return response, status

    @app.errorhandler(InternalServerError)
    def internal(exc: InternalServerError) -> tuple[Response | str, int]:
        db.session.rollback()
        return error_response(500)
