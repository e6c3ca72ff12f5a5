"""Races at the admin's door and over its accounts: one code posted twice, wrong
passwords and codes sent in parallel, two admins demoting each other, one account
created twice.  On PostgreSQL, where the requests truly overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa

from initiatives.extensions import db

from .concurrency_helpers import PG, run_at_once, wait_for_lock_waiters, while_held
from .conftest import csrf_token


def _admin_with_two_factor(app, email: str) -> tuple[int, str]:
    """An admin account with two-factor login set up: its id and TOTP secret."""
    import pyotp

    from initiatives import accounts

    from .admin_helpers import create_admin

    user_id = create_admin(app, email)
    secret = pyotp.random_base32()
    with app.app_context():
        user = db.session.get(accounts.AdminUser, user_id)
        user.totp_secret_enc = accounts.crypto().encrypt(secret)
        db.session.commit()
    return user_id, secret


@PG
def test_one_totp_code_posted_twice_at_once_logs_in_once(app):
    import pyotp

    from initiatives import accounts

    from .admin_helpers import login

    user_id, secret = _admin_with_two_factor(app, "amal@example.org")
    for _round in range(5):
        with app.app_context():
            db.session.get(accounts.AdminUser, user_id).totp_last_step = None
            db.session.execute(sa.delete(accounts.LoginFailure))
            db.session.commit()
        code = pyotp.TOTP(secret).now()
        actions = []
        for _ in range(2):
            browser = app.test_client()
            assert login(browser, "amal@example.org").status_code == 302
            data = {"code": code, "csrf_token": csrf_token(browser, "/admin/login/code")}
            actions.append(
                lambda b=browser, d=data: b.post("/admin/login/code", data=d).status_code
            )
        assert sorted(run_at_once(actions)) == [302, 401]


@PG
def test_wrong_passwords_sent_in_parallel_are_throttled_like_one_by_one(app):
    from .admin_helpers import create_admin

    create_admin(app, "amal@example.org")
    limit = app.config["ADMIN_LOGIN_MAX_PER_ACCOUNT"]
    actions = []
    for guess in range(12):
        browser = app.test_client()
        data = {
            "email": "amal@example.org",
            "password": f"wrong guess {guess}",
            "csrf_token": csrf_token(browser, "/admin/login"),
        }
        actions.append(lambda b=browser, d=data: b.post("/admin/login", data=d).status_code)
    statuses = run_at_once(actions)
    assert statuses.count(401) == limit and statuses.count(429) == 12 - limit


@PG
def test_wrong_codes_sent_in_parallel_are_throttled_like_one_by_one(app):
    import time

    import pyotp

    from .admin_helpers import login

    _user_id, secret = _admin_with_two_factor(app, "amal@example.org")
    # Someone who has the password guesses the second step with many sessions at once.
    wrong = pyotp.TOTP(secret).at(time.time() - 3600)
    limit = app.config["ADMIN_LOGIN_MAX_PER_ACCOUNT"]
    actions = []
    for _ in range(12):
        browser = app.test_client()
        assert login(browser, "amal@example.org").status_code == 302
        data = {"code": wrong, "csrf_token": csrf_token(browser, "/admin/login/code")}
        actions.append(lambda b=browser, d=data: b.post("/admin/login/code", data=d).status_code)
    statuses = run_at_once(actions)
    assert statuses.count(401) == limit and statuses.count(429) == 12 - limit


@PG
def test_two_admins_demoting_each_other_at_once_leave_one_admin(app):
    """Samira demotes Bilal while Bilal demotes Samira: each saw two admins.  The second
    must count again once the first has committed, and be refused."""
    from initiatives import accounts

    from .admin_helpers import create_admin, login, post_form

    samira = create_admin(app, "samira@example.org")
    create_admin(app, "bilal@example.org")
    bilal_browser = app.test_client()
    assert login(bilal_browser, "bilal@example.org").status_code == 302
    statuses: list[int] = []

    def bilal_demotes_samira() -> None:
        statuses.append(
            post_form(
                bilal_browser,
                "/admin/accounts",
                f"/admin/accounts/{samira}/role",
                role="organiser",
            ).status_code
        )

    with app.app_context(), db.engine.connect() as samiras, db.engine.connect() as watcher:
        # Samira's request, demoting Bilal, not yet committed.
        samiras.execute(
            sa.update(accounts.AdminUser)
            .where(accounts.AdminUser.email == "bilal@example.org")
            .values(role="organiser")
        )
        thread = threading.Thread(target=bilal_demotes_samira)
        thread.start()
        # It waits for Samira's (a fixed app), or finishes at once having seen two admins.
        wait_for_lock_waiters(watcher, 1, unless=lambda: not thread.is_alive())
        samiras.commit()
    thread.join(timeout=120)
    assert statuses == [302]
    with app.app_context():
        assert accounts.active_admins() == 1
        assert accounts.by_email("samira@example.org").role == "admin"


def _while_another_admin_creates_hodan(app, act: Callable[[], object]) -> list[object]:
    """Run ``act`` while another admin's uncommitted request creates hodan@example.org."""
    from initiatives import accounts

    def hold(first: sa.orm.Session) -> None:
        first.add(
            accounts.AdminUser(email="hodan@example.org", password_hash="x", role="organiser")
        )

    return while_held(app, hold, act)


@PG
def test_one_account_created_twice_at_once_in_the_admin_gets_a_message_not_an_error(app):
    """Two admins add hodan@example.org at the same moment: both pass the "address
    taken?" check; the second sees the form again with the usual message."""
    from initiatives import accounts

    from .admin_helpers import PASSWORD, logged_in

    admin = logged_in(app)
    token = csrf_token(admin, "/admin/accounts")
    data = {"email": "Hodan@example.org", "password": PASSWORD, "role": "organiser"}

    def create() -> tuple[int, str]:
        response = admin.post("/admin/accounts", data=data | {"csrf_token": token})
        return response.status_code, response.get_data(as_text=True)

    outcome = _while_another_admin_creates_hodan(app, create)
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome
    status, page = outcome[0]
    assert status == 400 and "Det finns redan ett konto med den e-postadressen." in page
    assert admin.get("/admin/accounts").status_code == 200
    with app.app_context():
        count = sa.select(sa.func.count(accounts.AdminUser.id))
        assert db.session.scalar(count.where(accounts.AdminUser.email == "hodan@example.org")) == 1


@PG
def test_one_account_created_twice_at_once_from_the_terminal_gets_a_message_not_a_traceback(app):
    from .admin_helpers import PASSWORD

    def create() -> tuple[int, str, str]:
        result = app.test_cli_runner().invoke(
            args=["admin", "create", "--email", "hodan@example.org", "--password-stdin"],
            input=PASSWORD + "\n",
        )
        return result.exit_code, result.output, type(result.exception).__name__

    outcome = _while_another_admin_creates_hodan(app, create)
    assert len(outcome) == 1 and isinstance(outcome[0], tuple), outcome  # not a DB error
    exit_code, output, error = outcome[0]
    assert exit_code == 1 and error == "SystemExit", output
    assert "Det finns redan ett konto med den e-postadressen." in output
    assert "Traceback" not in output
