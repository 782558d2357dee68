"""ASGI entry point: ``uvicorn elicence.api.asgi:app`` (settings from the environment)."""

from elicence.api.app import create_app

app = create_app(freeze_heap=True)
