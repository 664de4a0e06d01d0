"""The coordinator's desk: a signed-in web app, in Danish, over the same flows as the CLI.

``desk.app.create_app`` builds the application; ``desk.cli`` holds ``forloeb desk``. This
package's root imports nothing, so the CLI does not pay for the web stack on every command.
"""

__all__: list[str] = []
