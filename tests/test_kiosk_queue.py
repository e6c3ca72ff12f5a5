"""The stand tablet's offline queue, sealed so that only the server can open it.

Entries are sealed here with the ``cryptography`` package exactly as the tablet's
WebCrypto code does (static/js/kiosk-queue.js): AES-GCM 256 over the personal fields with
the kiosk, UUID, initiative and signing time as associated data, the AES key wrapped with
RSA-OAEP SHA-256 under the sign screen's public key.  The browser side itself is tested in
tests/functional/test_kiosk_browser.py.  On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from initiatives import clock, kiosk_queue, kiosks, retention
from initiatives.crypto import crypto
from initiatives.extensions import db
from initiatives.kiosk_device import COOKIE
from initiatives.models import Channel, Signature

from .conftest import TEST_DATA_KEY, csrf_token
from .test_kiosk import (
    TOKEN_RE,
    Tablet,
    enrolled_tablet,
    kiosk_rows,
    mails,
    new_kiosk,
    the_kiosk,
)

KEY_RE = re.compile(r'data-queue-key="([^"]*)"')
KEY_ID_RE = re.compile(r'data-queue-key-id="([^"]*)"')
KIOSK_ID_RE = re.compile(r'data-kiosk-id="([^"]*)"')
PERSONAL = {
    "name": "Amira Hassan",
    "email": "amira@example.org",
    "postcode": "213 64",
    "resident": "y",
    "consent": "y",
}
OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign_screen_key(tablet: Tablet) -> dict[str, str]:
    """What the tablet's cached sign screen gives its script to seal with."""
    page = tablet.client.get("/kiosk/sign/sv").get_data(as_text=True)
    return {
        "public": KEY_RE.search(page).group(1),
        "kid": KEY_ID_RE.search(page).group(1),
        "kiosk": KIOSK_ID_RE.search(page).group(1),
    }


def browser_aad(kiosk: str, client_uuid: str, initiative: str, signed_at: str) -> bytes:
    # JSON.stringify([...]) of five strings, as the script builds it.
    return json.dumps(
        ["initiatives.kiosk.queue/v1", kiosk, client_uuid, initiative, signed_at],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def seal(
    key: dict[str, str],
    client_uuid: str,
    *,
    initiative: str = "amiralsgatan",
    signed_at: str,
    personal: dict[str, Any] | None = None,
    aad_uuid: str | None = None,
) -> str:
    """The sealed envelope the tablet stores (and sends as the ``sealed`` field)."""
    public = serialization.load_der_public_key(base64.b64decode(key["public"]))
    assert isinstance(public, rsa.RSAPublicKey)
    aes_key = AESGCM.generate_key(bit_length=256)
    iv = os.urandom(12)
    aad = browser_aad(key["kiosk"], aad_uuid or client_uuid, initiative, signed_at)
    plain = json.dumps(PERSONAL if personal is None else personal).encode()
    envelope = {
        "v": 1,
        "kid": key["kid"],
        "key": b64(public.encrypt(aes_key, OAEP)),
        "iv": b64(iv),
        "data": b64(AESGCM(aes_key).encrypt(iv, plain, aad)),
    }
    return json.dumps(envelope)


def now_iso(delta: timedelta = timedelta()) -> str:
    return (clock.utcnow() + delta).isoformat().replace("+00:00", "Z")


def queued_entry(key: dict[str, str], **overrides: Any) -> dict[str, str]:
    """The form body the script sends for a sealed queue entry: no personal field plain."""
    client_uuid = overrides.pop("client_uuid", str(uuid.uuid4()))
    signed_at = overrides.pop("signed_at", now_iso(timedelta(minutes=-5)))
    personal = overrides.pop("personal", None)
    sealed = overrides.pop("sealed", None) or seal(
        key, client_uuid, signed_at=signed_at, personal=personal
    )
    data = {
        "initiative": "amiralsgatan",
        "client_uuid": client_uuid,
        "signed_at": signed_at,
        "lang": "sv",
        "queued": "1",
        "sealed": sealed,
    }
    data.update(overrides)
    return data


def send(tablet: Tablet, data: dict[str, str]) -> Any:
    return tablet.client.post(
        "/kiosk/api/submissions", data=data, headers={"X-Kiosk-Token": tablet.token}
    )


def reenrol(app, tablet: Tablet) -> Tablet:
    """The organiser makes a new code for the same kiosk; the same tablet types it."""
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        code = kiosks.issue_code(kiosk, actor="test")
        db.session.commit()
    # Scanning the new code's QR opens the enrolment form, also on an enrolled tablet.
    form = {"code": code, "pin": "2468", "pin_again": "2468"}
    form["csrf_token"] = csrf_token(tablet.client, f"/kiosk/enrol/{code}")
    response = tablet.client.post(
        "/kiosk/enrol", data=form, headers={"Referer": "https://localhost/kiosk"}
    )
    assert response.status_code == 303
    page = tablet.client.get("/kiosk").get_data(as_text=True)
    return Tablet(tablet.client, TOKEN_RE.search(page).group(1))


def same_tablet_on(app, tablet: Tablet) -> Tablet:
    """The tablet talking to another app instance (another configuration, one database)."""
    other = Tablet(app.test_client(), tablet.token)
    cookie = tablet.client.get_cookie(COOKIE, path="/kiosk")
    other.client.set_cookie(COOKIE, cookie.value, path="/kiosk")
    return other


def refused(response: Any, status: str = "unreadable") -> bool:
    return response.status_code == 422 and response.json["status"] == status


# --- keys ------------------------------------------------------------------------------------


def test_enrolment_makes_a_key_pair_whose_public_half_the_sign_screen_carries(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    key = sign_screen_key(tablet)
    kiosk = the_kiosk(app)
    assert key["public"] == kiosk.queue_public_key and key["kiosk"] == str(kiosk.id)
    public = serialization.load_der_public_key(base64.b64decode(key["public"]))
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    # The private key is stored encrypted under DATA_KEY, never in the clear.
    with app.app_context():
        stored = json.loads(crypto().decrypt(kiosk.queue_keys_enc))
    [current] = stored
    assert current["id"] == key["kid"] and current["retired"] is None
    private_der = base64.b64decode(current["key"])
    assert private_der not in bytes(kiosk.queue_keys_enc)
    assert current["key"].encode() not in bytes(kiosk.queue_keys_enc)
    # The cached screens are refreshed when the key changes.
    assert "queue_public_key" in kiosks.Kiosk.__table__.c


def test_a_tablet_enrolled_before_queue_keys_gets_one_on_its_start_screen(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    before = tablet.client.get("/kiosk/shell.json").json["version"]
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        kiosk.queue_public_key = None
        kiosk.queue_keys_enc = None
        db.session.commit()
    tablet.client.get("/kiosk")
    assert the_kiosk(app).queue_public_key
    assert tablet.client.get("/kiosk/shell.json").json["version"] != before
    response = send(tablet, queued_entry(sign_screen_key(tablet)))
    assert response.status_code == 200, response.json


# --- opening ---------------------------------------------------------------------------------


def test_a_sealed_entry_is_opened_and_taken_like_a_live_signature(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    entry = queued_entry(sign_screen_key(tablet))
    assert not set(PERSONAL) & set(entry)  # nothing personal travels or waits in the clear
    response = send(tablet, entry)
    assert response.status_code == 200 and response.json == {
        "status": "received",
        "uuid": entry["client_uuid"],
    }
    [row] = kiosk_rows(app)
    with app.app_context():
        box = crypto()
        assert box.decrypt(row.name_enc) == "Amira Hassan"
        assert box.decrypt(row.email_enc) == "amira@example.org"
        assert box.decrypt(row.postcode_enc) == "213 64"
    assert row.channel == Channel.KIOSK and row.client_uuid == entry["client_uuid"]
    assert row.device_signed_at is not None
    assert mails(app, "confirm") == 1

    # Sent again (the acknowledgement was lost): acknowledged, nothing stored twice.
    again = send(tablet, entry)
    assert again.status_code == 200 and again.json["status"] == "received"
    assert len(kiosk_rows(app)) == 1 and mails(app, "confirm") == 1


def test_an_opened_entry_meets_the_same_validation_as_a_live_one(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    key = sign_screen_key(tablet)
    client_uuid = str(uuid.uuid4())
    signed_at = now_iso()
    bad = {**PERSONAL, "email": "amira.@example.org", "name": "bit.ly/x"}
    response = send(
        tablet,
        queued_entry(
            key,
            client_uuid=client_uuid,
            signed_at=signed_at,
            sealed=seal(key, client_uuid, signed_at=signed_at, personal=bad),
        ),
    )
    assert response.status_code == 422 and response.json["status"] == "invalid"
    assert set(response.json["errors"]) == {"email", "name"}
    # A huge name inside a well-sealed payload: the form's own limit, in the language.
    client_uuid = str(uuid.uuid4())
    huge = {**PERSONAL, "name": "A" * 5000}
    response = send(
        tablet,
        queued_entry(
            key,
            client_uuid=client_uuid,
            signed_at=signed_at,
            lang="en",
            sealed=seal(key, client_uuid, signed_at=signed_at, personal=huge),
        ),
    )
    assert response.status_code == 422 and "200" in response.json["errors"]["name"]
    assert kiosk_rows(app) == []


def test_sealed_values_never_override_the_entrys_own_fields(app, make_initiative):
    make_initiative()
    make_initiative("parklek")
    tablet = enrolled_tablet(app)
    key = sign_screen_key(tablet)
    client_uuid = str(uuid.uuid4())
    signed_at = now_iso()
    sneaky = {**PERSONAL, "initiative": "parklek", "client_uuid": str(uuid.uuid4())}
    entry = queued_entry(
        key,
        client_uuid=client_uuid,
        signed_at=signed_at,
        sealed=seal(key, client_uuid, signed_at=signed_at, personal=sneaky),
    )
    assert send(tablet, entry).status_code == 200
    [row] = kiosk_rows(app)
    assert row.client_uuid == client_uuid
    with app.app_context():
        assert db.session.get(Signature, row.id).initiative.slug == "amiralsgatan"


def tampered(key: dict[str, str], field: str, value: Any) -> str:
    envelope = json.loads(seal(key, str(uuid.uuid4()), signed_at=now_iso()))
    envelope[field] = value
    return json.dumps(envelope)


def test_damaged_or_forged_sealed_data_gets_a_clear_422_never_a_500(app, make_initiative):
    make_initiative()
    make_initiative("parklek")
    tablet = enrolled_tablet(app, new_kiosk(app, "amiralsgatan", "parklek"))
    key = sign_screen_key(tablet)
    good = json.loads(seal(key, str(uuid.uuid4()), signed_at=now_iso()))
    someone_elses = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_public = someone_elses.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    client_uuid = str(uuid.uuid4())
    signed_at = now_iso()
    cases = {
        "not json": "{nope",
        "a list": "[1, 2]",
        "deeply nested": "[" * 5000 + "]" * 5000,
        "wrong version": json.dumps({**good, "v": 2}),
        "truncated base64": json.dumps({**good, "data": good["data"][:-3]}),
        "not base64": json.dumps({**good, "key": "!!!!" + good["key"][4:]}),
        "a number for a key": json.dumps({**good, "key": 12}),
        "short wrapped key": json.dumps({**good, "key": good["key"][:40]}),
        "short iv": json.dumps({**good, "iv": b64(os.urandom(8))}),
        "too long": json.dumps({**good, "pad": "x" * 20_000}),
        "unknown key id": json.dumps({**good, "kid": "0123456789abcdef"}),
        # Sealed to a key the server never made, naming this kiosk's key.
        "wrong key": seal({**key, "public": b64(other_public)}, client_uuid, signed_at=signed_at),
        # Another entry's sealed payload under this entry's UUID (replayed).
        "wrong uuid in the aad": seal(
            key, client_uuid, signed_at=signed_at, aad_uuid=str(uuid.uuid4())
        ),
        "another kiosk in the aad": seal(
            {**key, "kiosk": str(int(key["kiosk"]) + 1)}, client_uuid, signed_at=signed_at
        ),
        "another initiative in the aad": seal(
            key, client_uuid, signed_at=signed_at, initiative="parklek"
        ),
        "a list inside": seal(key, client_uuid, signed_at=signed_at, personal=["x"]),  # type: ignore[arg-type]
        "a number inside": seal(key, client_uuid, signed_at=signed_at, personal={"name": 5}),
    }
    for case, sealed in cases.items():
        response = send(
            tablet,
            queued_entry(key, client_uuid=client_uuid, signed_at=signed_at, sealed=sealed),
        )
        assert refused(response), (case, response.status_code, response.get_data(as_text=True))
        assert response.json["message"] == "Underskriften från surfplattans kö gick inte att öppna."
    assert kiosk_rows(app) == []

    # A time moved after sealing does not open either (it is bound like the UUID).
    moved = queued_entry(
        key,
        client_uuid=client_uuid,
        signed_at=now_iso(timedelta(minutes=1)),
        sealed=seal(key, client_uuid, signed_at=signed_at),
    )
    assert refused(send(tablet, moved))

    # A body beyond MAX_CONTENT_LENGTH: 413, which the script also counts as refused.
    huge = queued_entry(key, sealed=json.dumps({**good, "data": "A" * 70_000}))
    response = send(tablet, huge)
    assert response.status_code == 413 and response.json["status"] == "error"

    # In the entry's language.
    response = send(tablet, queued_entry(key, sealed="{nope", lang="en"))
    assert refused(response) and "could not be opened" in response.json["message"]


def test_an_entry_from_another_kiosk_does_not_open_here(app, make_initiative):
    """Each kiosk opens only what was sealed to its own keys."""
    make_initiative()
    first = enrolled_tablet(app)
    second = enrolled_tablet(app, new_kiosk(app, name="Stand 2"))
    entry = queued_entry(sign_screen_key(first))
    response = send(second, entry)
    assert refused(response) and response.json["reason"] == "key"
    assert send(first, entry).status_code == 200


# --- unbinding and binding again ---------------------------------------------------------


def test_unbinding_shreds_the_key_so_what_the_tablet_holds_opens_nowhere(app, make_initiative):
    """Admin's "koppla bort" (a lost tablet) deletes the private key: an entry sealed
    before can be opened by nobody, not even when the kiosk is enrolled again; the
    tablet is told so (422 "unreadable"), deletes it and counts it as not delivered."""
    make_initiative()
    tablet = enrolled_tablet(app)
    entry = queued_entry(sign_screen_key(tablet))
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        kiosks.unenrol(kiosk, actor="test")
        db.session.commit()
        assert kiosk.queue_keys_enc is None and kiosk.queue_public_key is None
    assert send(tablet, entry).status_code == 403  # locked: the tablet keeps it for now

    tablet = reenrol(app, tablet)
    response = send(tablet, entry)
    assert refused(response) and response.json["reason"] == "key"
    assert kiosk_rows(app) == []


def test_revoking_shreds_the_keys(app, make_initiative):
    make_initiative()
    enrolled_tablet(app)
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        kiosks.revoke(kiosk, actor="test")
        db.session.commit()
    kiosk = the_kiosk(app)
    assert kiosk.queue_keys_enc is None and kiosk.queue_public_key is None


def test_the_same_tablet_bound_again_still_delivers_what_it_queued(
    app, make_initiative, monkeypatch
):
    """A new code for the same stand (the volunteer forgot the PIN, say): the tablet keeps
    its queue, and the residents in it were told "saved".  The previous binding's key is
    kept, retired, for KIOSK_QUEUE_MAX_DAYS, then deleted by the purge."""
    make_initiative()
    tablet = enrolled_tablet(app)
    old_key = sign_screen_key(tablet)
    waiting = queued_entry(old_key)
    late = queued_entry(old_key)
    tablet = reenrol(app, tablet)
    new_key = sign_screen_key(tablet)
    assert new_key["kid"] != old_key["kid"]
    assert send(tablet, waiting).status_code == 200
    bilal = {**PERSONAL, "name": "Bilal Saïd", "email": "bilal@example.org"}
    assert send(tablet, queued_entry(new_key, personal=bilal)).status_code == 200
    assert len(kiosk_rows(app)) == 2

    # Past KIOSK_QUEUE_MAX_DAYS the retired key opens nothing (an entry that old is
    # refused as too old before, unless the tablet's clock was wrong), and the purge
    # deletes it.
    later = clock.utcnow() + timedelta(days=app.config["KIOSK_QUEUE_MAX_DAYS"], minutes=1)
    with app.app_context():
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        opened = {"client_uuid": late["client_uuid"], "initiative": "amiralsgatan"}
        opened["signed_at"] = late["signed_at"]
        assert kiosk_queue.open_sealed(kiosk, late["sealed"], **opened)["name"] == "Amira Hassan"
        with pytest.raises(kiosk_queue.Unreadable) as gone:
            kiosk_queue.open_sealed(kiosk, late["sealed"], **opened, now=later)
        assert gone.value.reason == "key"
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    assert refused(send(tablet, late), "too_old")
    with app.app_context():
        report = retention.purge()
        db.session.commit()
        assert report.kiosk_queue_keys_dropped == 1
        kiosk = db.session.scalars(sa.select(kiosks.Kiosk)).one()
        [left] = json.loads(crypto().decrypt(kiosk.queue_keys_enc))
        assert left["id"] == new_key["kid"]
    cecilia = {**PERSONAL, "name": "Cecilia Öberg", "email": "cecilia@example.org"}
    fresh = queued_entry(new_key, signed_at=now_iso(), personal=cecilia)
    assert send(tablet, fresh).status_code == 200
    assert fresh["client_uuid"] in {r.client_uuid for r in kiosk_rows(app)}


# --- the time limit --------------------------------------------------------------------------


def test_a_queued_entry_older_than_the_limit_is_refused(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    key = sign_screen_key(tablet)
    days = app.config["KIOSK_QUEUE_MAX_DAYS"]
    old = queued_entry(key, signed_at=now_iso(timedelta(days=-days, minutes=-1)))
    response = send(tablet, old)
    assert refused(response, "too_old")
    assert response.json["message"] == "Underskriften väntade för länge på surfplattan."
    # An old plain entry, queued before sealing existed, the same.
    plain = {**PERSONAL, "initiative": "amiralsgatan", "client_uuid": str(uuid.uuid4())}
    plain |= {"signed_at": old["signed_at"], "lang": "sv", "queued": "1"}
    assert refused(send(tablet, plain), "too_old")
    assert kiosk_rows(app) == []
    # Just inside the limit: taken.
    fresh = queued_entry(key, signed_at=now_iso(timedelta(days=-days, minutes=1)))
    assert send(tablet, fresh).status_code == 200
    # A live send is not judged by the tablet's clock (it may be wrong): taken.
    live = {**plain, "client_uuid": str(uuid.uuid4()), "email": "bilal@example.org"}
    del live["queued"]
    assert send(tablet, live).status_code == 200


def test_an_old_plain_entry_from_before_sealing_is_still_delivered(app, make_initiative):
    make_initiative()
    tablet = enrolled_tablet(app)
    plain = {**PERSONAL, "initiative": "amiralsgatan", "client_uuid": str(uuid.uuid4())}
    plain |= {"signed_at": now_iso(timedelta(days=-2)), "lang": "sv", "queued": "1"}
    assert send(tablet, plain).status_code == 200
    assert len(kiosk_rows(app)) == 1


# --- the server's own keys ---------------------------------------------------------------


def test_keys_the_server_cannot_decrypt_keep_the_entry_on_the_tablet(make_app, make_initiative):
    """DATA_KEY lost its old key before rotate-data-key ran: the server's fault, not the
    entry's.  503: the tablet keeps the entry and sends it again later."""
    app = make_app(DATA_KEY=TEST_DATA_KEY)
    make_initiative()
    tablet = enrolled_tablet(app)
    entry = queued_entry(sign_screen_key(tablet))
    wrong = make_app(DATA_KEY=Fernet.generate_key().decode())
    answer = send(same_tablet_on(wrong, tablet), entry)
    assert answer.status_code == 503 and answer.json["status"] == "error"
    assert send(tablet, entry).status_code == 200
