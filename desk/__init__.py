"""The coordinator's desk: a signed-in web app, in Danish, over the same flows as the CLI."""

from .app import create_app
from .settings import DeskSettings

__all__ = ["DeskSettings", "create_app"]
