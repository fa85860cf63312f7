"""The ASGI entry point for production servers: ``uvicorn simrenew.web.asgi:create
--factory``. The app is built when the server calls the factory, from the
environment's settings, never at import time."""

from __future__ import annotations

from fastapi import FastAPI

from simrenew.bootstrap import build
from simrenew.config import Settings
from simrenew.web.app import create_app


def create() -> FastAPI:
    return create_app(build(Settings()))
