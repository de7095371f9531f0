"""The one exception blindspot raises for anything a user can act on (bad input, refused output)."""


class BlindspotError(Exception):
    """A failure with a one-line reason, shown as `blindspot: error: <file>: <reason>`."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason
