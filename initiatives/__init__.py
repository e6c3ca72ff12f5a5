"""initiatives: signature campaigns for citizen initiatives (Malmöinitiativ)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from . import clock
from . import config as config_module
from .crypto import DataCrypto
from .extensions import csrf, db, limiter, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: defaults, ``instance/config.py``, environment, test mapping."""
    # INSTANCE_PATH moves instance/ (database, local config, development mail) elsewhere.
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=instance_path or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(config_module.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_mapping(config_module.from_environment())
    else:
        app.config.from_mapping(test_config)
    config_module.finalise(app.config, Path(app.instance_path))

    configure_logging(app)
    configure_database(app)
    configure_extensions(app)
    configure_blueprints(app)
    configure_cli(app)
    return app


def configure_logging(app: Flask) -> None:
    level = getattr(logging, str(app.config["LOG_LEVEL"]).upper(), logging.INFO)
    logging.getLogger("initiatives").setLevel(level)
    # Werkzeug's access log prints full URLs, which carry confirmation tokens.
    from .logs import TokenRedactingFilter

    for name in ("werkzeug", "gunicorn.access", "initiatives"):
        logging.getLogger(name).addFilter(TokenRedactingFilter())


def configure_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    # hide_parameters: errors and logs never show bound values (ciphertexts, blind indexes).
    # pre-ping (PostgreSQL only, below): after a database restart the pool reconnects
    # instead of failing requests.
    options: dict[str, Any] = {"hide_parameters": True}
    if uri.startswith("sqlite"):
        # A file never goes away under us: no ping before each use (a query per request).
        options["connect_args"] = {"timeout": 15, "check_same_thread": False}
        if uri.startswith("sqlite:///") and ":memory:" not in uri:
            from .sqlite_writers import WriterLockConnection

            options["connect_args"]["factory"] = WriterLockConnection
    else:
        options.update(pool_pre_ping=True, pool_size=10, max_overflow=10, pool_recycle=1800)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # The models kept in modules of their own, with the code that uses them: the metadata
    # (create_all, Alembic, key rotation) sees every table.  Imported here, not at the
    # end of models.py: they import models, and a first import of one of them (a script's
    # "from initiatives import kiosks") then met itself half-imported.
    from . import accounts, kiosk_signatures, kiosks, lifecycle, paper, texts  # noqa: F401

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    if uri.startswith("sqlite"):
        with app.app_context():
            _tune_sqlite(db.engine)


def _tune_sqlite(engine: Any) -> None:
    """WAL, foreign keys, a busy timeout; writers take the lock when they begin.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT, so we emit
    BEGIN ourselves (SQLAlchemy's documented recipe).  Requests that may write (anything
    but GET/HEAD) and CLI work begin IMMEDIATE: concurrent writers then queue on the busy
    timeout instead of failing on a lock upgrade, while readers never block anyone.
    """
    from flask import has_request_context, request

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        reading = has_request_context() and request.method in ("GET", "HEAD")
        # Work that only reads may say so (outbox.READ_ONLY), as the outbox worker does
        # while it composes a batch: it then never holds the lock signers wait for.
        reading = reading or conn.get_execution_options().get("initiatives_read_only", False)
        if reading:
            conn.exec_driver_sql("BEGIN")
            return
        # Writers queue on a file lock first (sqlite_writers.py), then take SQLite's.
        dbapi_connection = conn.connection.dbapi_connection
        queue = getattr(dbapi_connection, "begin_write", None)
        if queue is not None:
            queue()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except Exception:
            if queue is not None:
                dbapi_connection.end_write()
            raise


def configure_extensions(app: Flask) -> None:
    from .errors import configure_errors
    from .i18n import configure_i18n
    from .security import configure_security, reject_undecodable_forms

    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.extensions["data_crypto"] = DataCrypto(app.config["DATA_KEYS"])
    # Before CSRF, which would otherwise report an undecodable body as a missing token.
    app.before_request(reject_undecodable_forms)
    csrf.init_app(app)
    # The Limiter is one object per process and keeps the first app's key prefix for good;
    # production runs one app per process, tests several (each with its own prefix).
    limiter._key_prefix = app.config["RATELIMIT_KEY_PREFIX"]
    limiter.init_app(app)
    configure_i18n(app)
    configure_security(app)
    configure_errors(app)


def configure_blueprints(app: Flask) -> None:
    from . import api, kiosk, pages, privacy, qr, signing
    from .admin import configure_admin

    app.register_blueprint(pages.bp)
    app.register_blueprint(signing.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(qr.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(kiosk.bp)
    configure_admin(app)
    if app.config["APP_ENV"] == "development":
        from . import devmail

        app.register_blueprint(devmail.bp)
    app.jinja_env.filters["paragraphs"] = pages.paragraphs
    app.jinja_env.globals["now_utc"] = clock.utcnow


def configure_cli(app: Flask) -> None:
    from .cli import register_cli

    register_cli(app)
