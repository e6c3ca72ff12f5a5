"""Extension objects, created unbound and initialised by the factory."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so that Alembic can alter them on SQLite (batch mode) and PostgreSQL
# alike, and so that the schema is identical whichever engine created it.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()


def reads_only() -> None:
    """Say that this request only reads: on PostgreSQL its statements then run without a
    transaction (autocommit), which spares the BEGIN and ROLLBACK round trips.

    For a view that makes one query and writes nothing (a confirmation link's page).
    Call it before the request's first query.  The connection goes back to the pool in
    its usual transactional mode (SQLAlchemy resets the isolation level on return).  On
    SQLite a GET's reads take no write lock anyway (``_tune_sqlite``).
    """
    if db.engine.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def hashed_client_address() -> str:
    """The rate-limit key of a client: a keyed hash of its address, never the address.

    Counters live in memory or Redis; like the ``client_hash`` on signatures, the key
    uses a daily salt, so a stored key cannot be tied to an address later.
    """
    from . import clock
    from .crypto import crypto

    return crypto().client_hash(get_remote_address() or "unknown", clock.utcnow().date())[:32]


limiter = Limiter(key_func=hashed_client_address, default_limits=[], headers_enabled=True)
