"""Signatures in the admin: search, look at one, invalidate and restore, resend, withdraw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from .. import clock, moderation
from ..extensions import db
from ..forms import ButtonForm
from ..lifecycle import TransitionError, local_date
from ..models import Channel, Signature, SignatureState
from . import actor, bp
from .forms import InvalidateForm, WithdrawRequestForm
from .initiatives import initiative_or_404


@bp.get("/initiatives/<slug>/signatures")
def signatures_search(slug: str) -> str:
    initiative = initiative_or_404(slug)
    query = request.args.get("q", "").strip()[:254]
    state = request.args.get("state") or None
    channel = request.args.get("channel") or None
    if state not in (None, *[s.value for s in SignatureState]):
        state = None
    if channel not in (None, *[c.value for c in Channel]):
        channel = None
    results, cut = [], False
    if query or state or channel:
        results, cut = moderation.search(initiative, query, state=state, channel=channel)
    return render_template(
        "admin/signatures.html",
        initiative=initiative,
        query=query,
        state=state,
        channel=channel,
        results=results,
        cut=cut,
        searched=bool(query or state or channel),
    )


def _found_or_404(slug: str, public_id: str) -> moderation.Found:
    initiative = initiative_or_404(slug)
    if "\x00" in public_id:  # PostgreSQL refuses NUL in a text value
        abort(404)
    found = moderation.get(initiative, public_id[:32])
    if found is None:
        abort(404)
    return found


def _forms(
    invalidate: InvalidateForm | None = None,
    withdraw: WithdrawRequestForm | None = None,
    erase: WithdrawRequestForm | None = None,
) -> dict[str, Any]:
    invalidate = invalidate or InvalidateForm(formdata=None)
    invalidate.reason.choices = [SelectChoice("", _("Välj…"))] + [
        SelectChoice(k, str(v)) for k, v in moderation.REASONS.items()
    ]
    withdraw = withdraw or WithdrawRequestForm(
        formdata=None, received_on=local_date(clock.utcnow())
    )
    withdraw.received_via.choices = [SelectChoice("", _("Välj…"))] + [
        SelectChoice(k, str(v)) for k, v in moderation.REQUEST_CHANNELS.items()
    ]
    erase = erase or WithdrawRequestForm(
        formdata=None, received_on=local_date(clock.utcnow()), prefix="erase"
    )
    erase.received_via.choices = withdraw.received_via.choices
    return {
        "invalidate_form": invalidate,
        "withdraw_form": withdraw,
        "erase_form": erase,
        "button": ButtonForm(),
    }


def _page(
    found: moderation.Found, status: int = 200, problem: str | None = None, **forms: Any
) -> Any:
    return render_template(
        "admin/signature.html",
        initiative=found.signature.initiative,
        found=found,
        history=moderation.history(found.signature),
        reasons=moderation.REASONS,
        problem=problem,
        **_forms(**forms),
    ), status


@bp.get("/initiatives/<slug>/signatures/<public_id>")
def signature_detail(slug: str, public_id: str) -> Any:
    return _page(_found_or_404(slug, public_id))


def _act(found: moderation.Found, form: Any, key: str, action: Any, done: str) -> Any:
    if not form.validate_on_submit():
        return _page(found, 400, **({key: form} if key else {}))
    try:
        result = action()
    except TransitionError as exc:
        db.session.rollback()
        return _page(found, 409, problem=str(exc))
    db.session.commit()
    if result is False:
        flash(_("Inget skickades: gränsen för mejl till adressen i dag är nådd."), "error")
    else:
        flash(done, "success")
    signature = found.signature
    return redirect(
        url_for(
            "admin.signature_detail", slug=signature.initiative.slug, public_id=signature.public_id
        )
    )


@bp.post("/initiatives/<slug>/signatures/<public_id>/invalidate")
def signature_invalidate(slug: str, public_id: str) -> Any:
    found = _found_or_404(slug, public_id)
    form = _forms(invalidate=InvalidateForm())["invalidate_form"]
    return _act(
        found,
        form,
        "invalidate",
        lambda: moderation.invalidate(
            found.signature, actor(), reason=form.reason.data, note=form.note.data or ""
        ),
        _("Underskriften är ogiltigförklarad och räknas inte."),
    )


def _button(slug: str, public_id: str, action: Callable[[Signature, str], Any], done: str) -> Any:
    """A button-only action on one signature."""
    found = _found_or_404(slug, public_id)
    return _act(found, ButtonForm(), "", lambda: action(found.signature, actor()), done)


@bp.post("/initiatives/<slug>/signatures/<public_id>/restore")
def signature_restore(slug: str, public_id: str) -> Any:
    return _button(slug, public_id, moderation.restore, _("Underskriften är återställd."))


@bp.post("/initiatives/<slug>/signatures/<public_id>/resend")
def signature_resend(slug: str, public_id: str) -> Any:
    return _button(
        slug, public_id, moderation.resend_confirmation, _("En ny bekräftelselänk skickas.")
    )


def _on_request(
    slug: str,
    public_id: str,
    key: str,
    action: Callable[..., None],
    done: str,
    prefix: str = "",
) -> Any:
    """An action on the signer's written request; the form says how and when it came."""
    found = _found_or_404(slug, public_id)
    form = _forms(**{key: WithdrawRequestForm(prefix=prefix)})[f"{key}_form"]
    return _act(
        found,
        form,
        key,
        lambda: action(
            found.signature,
            actor(),
            received_via=form.received_via.data,
            received_on=form.received_on.data,
        ),
        done,
    )


@bp.post("/initiatives/<slug>/signatures/<public_id>/withdraw")
def signature_withdraw(slug: str, public_id: str) -> Any:
    done = _("Underskriften är återkallad.")
    return _on_request(slug, public_id, "withdraw", moderation.withdraw_on_request, done)


@bp.post("/initiatives/<slug>/signatures/<public_id>/erase")
def signature_erase(slug: str, public_id: str) -> Any:
    """Erase the signer's personal data on their written request; the row still counts."""
    done = _("Namn, e-post och postnummer är raderade. Underskriften finns kvar i antalet.")
    return _on_request(slug, public_id, "erase", moderation.erase_on_request, done, prefix="erase")
