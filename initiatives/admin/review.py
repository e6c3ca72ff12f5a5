"""Abuse review in the admin: bursts, a preview of a selection, invalidate, restore.

No shadow bans: every step is on screen.  The page lists the bursts the rules in
``initiatives.abuse`` find; an organiser previews what a selection matches (by state,
with the signatures themselves), invalidates it with a reason code, and finds every
invalidation in the history with a button to undo it.  The count moves through
``abuse.invalidate`` and ``abuse.restore``, which keep it exact and write the audit log.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from wtforms import SelectChoice

from .. import abuse, bursts, clock, names
from ..clock import LOCAL_TZ
from ..crypto import InvalidToken, crypto
from ..extensions import db
from ..forms import ButtonForm
from ..kiosks import Kiosk
from ..models import Initiative, Signature, SignatureState
from . import actor, bp
from .initiatives import initiative_or_404
from .review_forms import (
    GET_FORM,
    REASONS,
    SELECTION_FIELDS,
    BurstForm,
    InvalidateForm,
    SelectionForm,
)

SHOWN = 50  # signatures listed in a preview; the counts cover all of them


def _kiosk_names(initiative: Initiative) -> dict[int, str]:
    """Kiosks that took signatures for this initiative (revoked ones too), by number."""
    rows = db.session.execute(
        sa.select(Kiosk.id, Kiosk.name)
        .where(
            Kiosk.id.in_(
                sa.select(Signature.kiosk_id).where(Signature.initiative_id == initiative.id)
            )
        )
        .order_by(Kiosk.name, Kiosk.id)
    )
    return {kiosk_id: name for kiosk_id, name in rows}


def _with_kiosks(form: SelectionForm, names: dict[int, str]) -> SelectionForm:
    form.kiosk.choices = [SelectChoice("", _("Alla"))] + [
        SelectChoice(str(k), n) for k, n in names.items()
    ]
    return form


def _until(form: SelectionForm) -> datetime | None:
    """The end of the selection, to and including it.  A browser's time field sends
    minutes only ("12:00"): to and including 12:00 then means up to 12:00:59.999999, as
    an organiser reads it (a signature at 12:00:30 is in it).  A time with its seconds (a
    burst's link) ends there."""
    if not form.until.data:
        return None
    end = clock.local_moment(form.until.data, latest=True)
    typed = (form.until.raw_data or [""])[0].strip()
    if len(typed) == len("2026-01-01T12:00"):
        end = (end.astimezone(UTC) + timedelta(minutes=1, microseconds=-1)).astimezone(LOCAL_TZ)
    return end


def _selection(initiative: Initiative, form: SelectionForm) -> abuse.Selection:
    return abuse.Selection(
        initiative.id,
        client_hash=form.client.data or None,
        domain=(form.domain.data or "").lstrip("@") or None,
        kiosk_id=int(form.kiosk.data) if form.kiosk.data else None,
        # The repeated hour when summer time ends: "from" its first, "to" its second.
        since=clock.local_moment(form.since.data) if form.since.data else None,
        until=_until(form),
    )


def _local(moment: datetime, up: bool = False) -> str:
    """A moment as the form's local time to the second; ``up`` rounds up, so a range
    taken from a burst still includes its last signature."""
    local = moment.astimezone(LOCAL_TZ)
    if up and local.microsecond:
        local += timedelta(seconds=1)
    return local.replace(microsecond=0, tzinfo=None).isoformat()


def _burst_query(burst: bursts.Burst) -> dict[str, str]:
    field = {"client": "client", "domain": "domain", "kiosk": "kiosk"}[burst.signal]
    key = burst.key[:16] if burst.signal == bursts.Signal.CLIENT else burst.key
    return {field: key, "since": _local(burst.start), "until": _local(burst.end, up=True)}


def _history(initiative: Initiative, kiosks: dict[int, str]) -> list[dict[str, Any]]:
    """Review actions, newest first; an invalidation says how many are still out."""
    items = []
    for event in abuse.history(initiative):
        details = event.details or {}
        still = 0
        if event.action == abuse.INVALIDATE_ACTION:
            # What restoring it would undo: not what a later invalidation took out again.
            still = abuse.preview_restore(abuse.selection_of_event(initiative, event.id)).total
        criteria = dict(details.get("criteria") or {})
        if "kiosk_id" in criteria:
            criteria["kiosk_id"] = kiosks.get(criteria["kiosk_id"], criteria["kiosk_id"])
        for key in ("since", "until"):
            if key in criteria:
                criteria[key] = datetime.fromisoformat(criteria[key]).astimezone(UTC)
        items.append({"event": event, "details": details, "criteria": criteria, "still": still})
    return items


def _page(
    initiative: Initiative,
    form: BurstForm | None = None,
    status: int = 200,
    problem: str | None = None,
) -> Any:
    form = form or BurstForm(formdata=None, meta=GET_FORM)
    kiosks = _kiosk_names(initiative)
    found: list[bursts.Burst] = []
    if not form.errors:
        found = bursts.find(
            initiative,
            window=timedelta(minutes=form.window.data or 10),
            threshold=form.threshold.data or bursts.DEFAULT_THRESHOLD,
        )
    invalidated = db.session.scalar(
        sa.select(sa.func.count(Signature.id)).where(
            Signature.initiative_id == initiative.id,
            Signature.state == SignatureState.INVALIDATED,
        )
    )
    return render_template(
        "admin/review.html",
        initiative=initiative,
        form=form,
        bursts=[(b, _burst_query(b)) for b in found],
        kiosks=kiosks,
        selection_form=_with_kiosks(SelectionForm(formdata=None, meta=GET_FORM), kiosks),
        history=_history(initiative, kiosks),
        reasons=REASONS,
        invalidated=invalidated,
        open_for_review=initiative.open_for_review(),
        problem=problem,
    ), status


@bp.get("/initiatives/<slug>/review")
def review(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    if not request.args:
        return _page(initiative)
    form = BurstForm(request.args, meta=GET_FORM)
    return _page(initiative, form, 200 if form.validate() else 400)


def _matched_signatures(matched: abuse.Matched) -> list[dict[str, Any]]:
    """The first SHOWN signatures of a preview, decrypted for the organiser's eyes."""
    ids = sorted(i for ids in matched.ids.values() for i in ids)[:SHOWN]
    box = crypto()
    rows = []
    for signature in db.session.scalars(
        sa.select(Signature).where(Signature.id.in_(ids)).order_by(Signature.created_at)
    ):
        try:
            name, email = box.decrypt(signature.name_enc), box.decrypt(signature.email_enc)
        except InvalidToken:
            name, email = None, None
        if name is not None:
            name = names.without_invisible(name)  # see names.INVISIBLE
        rows.append({"signature": signature, "name": name, "email": email})
    return rows


def _preview_page(
    initiative: Initiative,
    form: SelectionForm,
    kiosks: dict[int, str],
    status: int = 200,
    problem: str | None = None,
) -> Any:
    matched = invalidate_form = None
    already = 0
    if form.selection_valid():
        selection = _selection(initiative, form)
        matched = abuse.preview(selection)
        already = abuse.preview_restore(selection).total
        if isinstance(form, InvalidateForm):
            invalidate_form = form
        else:
            invalidate_form = _with_kiosks(InvalidateForm(formdata=None), kiosks)
            for name in SELECTION_FIELDS:
                target, source = getattr(invalidate_form, name), getattr(form, name)
                # As typed, too: a time given to the minute is read to the minute's end
                # (``_until``), and the invalidation must read it as the preview did.
                target.data, target.raw_data = source.data, source.raw_data
        invalidate_form.expected.data = str(matched.total)
        invalidate_form.selected.data = matched.fingerprint()
    return render_template(
        "admin/review_preview.html",
        initiative=initiative,
        form=form,
        matched=matched,
        already=already,
        signatures=_matched_signatures(matched) if matched else [],
        shown=SHOWN,
        kiosks=kiosks,
        invalidate_form=invalidate_form,
        open_for_review=initiative.open_for_review(),
        problem=problem,
    ), status


@bp.get("/initiatives/<slug>/review/preview")
def review_preview(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    kiosks = _kiosk_names(initiative)
    form = _with_kiosks(SelectionForm(request.args, meta=GET_FORM), kiosks)
    valid = form.validate()
    return _preview_page(initiative, form, kiosks, 200 if valid else 400)


@bp.post("/initiatives/<slug>/review/invalidate")
def review_invalidate(slug: str) -> Any:
    initiative = initiative_or_404(slug)
    kiosks = _kiosk_names(initiative)
    form = _with_kiosks(InvalidateForm(), kiosks)
    if not form.validate_on_submit():
        return _preview_page(initiative, form, kiosks, 400)
    try:
        change = abuse.invalidate(
            _selection(initiative, form),
            reason=form.reason.data,
            actor=actor(),
            note=form.note.data or None,
            expected=int(form.expected.data),
            fingerprint=form.selected.data or None,
        )
    except abuse.SelectionChangedError as exc:
        db.session.rollback()
        if exc.now == exc.expected:
            problem = _(
                "Urvalet har ändrats sedan förhandsgranskningen: det träffar lika många, "
                "men inte samma underskrifter. Se över det och försök igen."
            )
        else:
            problem = _(
                "Urvalet har ändrats sedan förhandsgranskningen: det träffar nu %(now)s i "
                "stället för %(then)s. Se över det och försök igen.",
                now=exc.now,
                then=exc.expected,
            )
        return _preview_page(initiative, form, kiosks, 409, problem)
    except abuse.ReviewClosedError:
        db.session.rollback()
        return _preview_page(initiative, form, kiosks, 409, _closed())
    db.session.commit()
    flash(
        ngettext(
            "%(num)s underskrift är ogiltigförklarad och räknas inte. Den kan återställas "
            "under Historik.",
            "%(num)s underskrifter är ogiltigförklarade och räknas inte. De kan återställas "
            "under Historik.",
            change.total,
        ),
        "success",
    )
    return redirect(url_for("admin.review", slug=initiative.slug) + "#history-h")


def _closed() -> str:
    return _("Listan är inlämnad eller initiativet avslutat: underskrifterna kan inte ändras.")


@bp.post("/initiatives/<slug>/review/restore/<id:event_id>")
def review_restore(slug: str, event_id: int) -> Any:
    initiative = initiative_or_404(slug)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        selection = abuse.selection_of_event(initiative, event_id)
    except abuse.SelectionError:
        abort(404)
    try:
        change = abuse.restore(selection, actor=actor(), event_id=event_id)
    except abuse.ReviewClosedError:
        db.session.rollback()
        return _page(initiative, status=409, problem=_closed())
    if not (change.total or change.withdrawn):
        # Sent again (a double click, the browser's history): nothing is left to undo,
        # and the log must not say it was undone twice.
        db.session.rollback()
        return _page(
            initiative,
            status=409,
            problem=_(
                "Inget att återställa: underskrifterna i #%(n)s är redan återställda "
                "eller ogiltigförklarade igen senare.",
                n=event_id,
            ),
        )
    db.session.commit()
    done = ngettext(
        "%(num)s underskrift är återställd.",
        "%(num)s underskrifter är återställda.",
        change.total,
    )
    if change.expired:
        # Not "waiting for confirmation": their link stopped working while they were held.
        done += " " + ngettext(
            "%(num)s av dem var obekräftad och länken hann sluta gälla: den är utgången, "
            "och underskrivaren kan skriva under igen.",
            "%(num)s av dem var obekräftade och länken hann sluta gälla: de är utgångna, "
            "och underskrivarna kan skriva under igen.",
            change.expired,
        )
    flash(done, "success")
    return redirect(url_for("admin.review", slug=initiative.slug) + "#history-h")


@bp.app_template_filter("minutes_between")
def minutes_between(burst: bursts.Burst) -> int:
    return max(1, math.ceil((burst.end - burst.start).total_seconds() / 60))
