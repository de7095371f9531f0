"""blindspot: remove the identities of people from photos before they are shared.

    import blindspot
    result = blindspot.anonymize_file("in.jpg", "out.jpg", blindspot.Options(mode="solid"))
    covered, faces = blindspot.anonymize_image(rgb_array)
"""

__version__ = "0.1.0"

from .audit import AuditResult, AuditSettings, audit_file  # noqa: E402
from .detections import Detections  # noqa: E402
from .errors import BlindspotError  # noqa: E402
from .options import MODES, Options  # noqa: E402
from .run.pipeline import (  # noqa: E402
    FileResult,
    anonymize_file,
    anonymize_image,
    clean_file,
    detect_file,
    detect_image,
)

__all__ = [
    "MODES", "BlindspotError", "Detections", "FileResult", "Options", "anonymize_file",
    "anonymize_image", "clean_file", "detect_file", "detect_image",
    "AuditResult", "AuditSettings", "audit_file",
]
