"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from initiatives import create_app

app = create_app()
