"""Organisers' passwords are hashed at the real cost outside tests.

The rest of the suite hashes with argon2-cffi's CHEAPEST profile (see conftest's
``_test_config``): these tests check what a site runs with instead, that a hash made with
other parameters is made again at the next login, and that a cheap profile is refused
outside the tests.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from initiatives import accounts
from initiatives.config import DEFAULTS, ConfigError
from initiatives.extensions import db

from .admin_helpers import create_admin, login
from .test_config import production

# RFC 9106's second recommendation: Argon2id, 64 MiB, 3 passes, 4 lanes.
REAL_COST = "$argon2id$v=19$m=65536,t=3,p=4$"


def _stored_hash(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(
            sa.select(accounts.AdminUser.password_hash).where(accounts.AdminUser.email == email)
        )


def test_a_site_hashes_passwords_at_rfc_9106s_cost_by_default(make_app):
    assert DEFAULTS["PASSWORD_HASH_PROFILE"] == "RFC_9106_LOW_MEMORY"
    app = make_app(PASSWORD_HASH_PROFILE=DEFAULTS["PASSWORD_HASH_PROFILE"])
    create_admin(app, "samira@example.org")
    assert _stored_hash(app, "samira@example.org").startswith(REAL_COST)
    assert login(app.test_client(), "samira@example.org").status_code == 302
    assert login(app.test_client(), "samira@example.org", "wrong password!").status_code == 401


def test_a_cheaper_hash_is_made_again_at_the_real_cost_at_the_next_login(make_app):
    """An account made with other parameters (here the tests' cheapest, as a site that
    raises its cost would have) logs in, and its hash is made again with the site's."""
    cheap = make_app()
    create_admin(cheap, "samira@example.org")
    assert _stored_hash(cheap, "samira@example.org").startswith("$argon2id$v=19$m=8,t=1,p=1$")

    real = make_app(PASSWORD_HASH_PROFILE="RFC_9106_LOW_MEMORY")
    assert login(real.test_client(), "samira@example.org").status_code == 302
    assert _stored_hash(real, "samira@example.org").startswith(REAL_COST)
    assert login(real.test_client(), "samira@example.org").status_code == 302


@pytest.mark.parametrize("profile", ["CHEAPEST", "PRE_21_2", "fast", ""])
def test_a_site_refuses_a_cheap_or_unknown_profile(tmp_path, profile):
    with pytest.raises(ConfigError, match="PASSWORD_HASH_PROFILE must be one of"):
        production(tmp_path, PASSWORD_HASH_PROFILE=profile)


def test_a_site_may_choose_rfc_9106s_first_recommendation(tmp_path):
    app = production(tmp_path, PASSWORD_HASH_PROFILE="RFC_9106_HIGH_MEMORY")
    assert app.config["PASSWORD_HASH_PROFILE"] == "RFC_9106_HIGH_MEMORY"
