"""Detectors: each finds one kind of thing that names a person and returns `Detections`.

`faces` (CenterFace, several scales and tiles); `tiles` is the grid they share.
"""

# Before any module here imports ONNX Runtime: its telemetry off (see ort_telemetry).
from . import ort_telemetry  # noqa: F401
