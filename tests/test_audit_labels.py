"""The organisers' log says what happened in Swedish, not as a code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask import Flask

import initiatives
from initiatives.admin.initiatives import AUDIT_ACTIONS
from initiatives.extensions import db
from initiatives.models import AuditEvent

from .admin_helpers import logged_in

# The namespaces of audit codes (what comes before the dot).  Endpoint names share some
# of them ("admin.dashboard", "kiosk.start"): the app's own endpoints are left out.
NAMESPACES = "abuse|admin|campaign|initiative|kiosk|outbox|pack|paper|privacy|retention|signature"
CODE = re.compile(rf"^(?:{NAMESPACES})\.[a-z_]+$")


def _codes_in_source() -> set[str]:
    """Every string in the app's code that has the shape of an audit code."""
    found: set[str] = set()
    for path in Path(initiatives.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(CODE.findall(node.value))
    return found


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_audit_code_the_app_writes_has_a_swedish_label(app: Flask):
    in_source = _codes_in_source()
    # "admin.login" is an endpoint and an audit code: it is labelled, and found below.
    codes = in_source - set(app.view_functions)
    # The scan finds what it should: codes written in several ways (a literal in the
    # call, a module constant, an argument passed on).
    assert {"kiosk.enrolled", "abuse.invalidate", "initiative.published"} <= codes
    assert "signature.restored" in codes
    assert sorted(codes - set(AUDIT_ACTIONS)) == [], "audit codes without a label"
    assert sorted(set(AUDIT_ACTIONS) - in_source) == [], "labels of codes no longer written"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_log_pages_show_the_label_and_keep_the_code(app: Flask, make_initiative):
    initiative = make_initiative()
    with app.app_context():
        db.session.add_all(
            [
                AuditEvent(
                    actor="anna", action="initiative.published", initiative_id=initiative.id
                ),
                # A code from a newer version, or one that lost its label: shown as it is.
                AuditEvent(actor="anna", action="initiative.made_up", initiative_id=initiative.id),
            ]
        )
        db.session.commit()
    client = logged_in(app)
    page = client.get(f"/admin/initiatives/{initiative.slug}/audit").get_data(as_text=True)
    assert "Publicerat, insamlingen öppen" in page
    assert '<code class="details">initiative.published</code>' in page
    assert "initiative.made_up" in page
