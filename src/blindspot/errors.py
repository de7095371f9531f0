"""The one exception blindspot raises for anything a user can act on (bad input, refused output)."""


class BlindspotError(Exception):
    """A failure with a one-line reason, shown as `blindspot: error: <file>: <reason>`."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


# What a file blindspot cannot read is told.
UNSUPPORTED = ("not a photo, video or sound file blindspot reads: photos JPEG, PNG, WebP, TIFF, "
               "BMP, GIF, HEIC/HEIF; videos MP4, MOV, MKV, WebM, AVI; sound WAV, FLAC, MP3, "
               "M4A/AAC, Ogg Vorbis/Opus/FLAC")
