"""The ceiling: a bare Flask app under the same gunicorn settings as the real one."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    return "Hello, Rosengård!"
