"""ONNX Runtime's telemetry, turned off before ONNX Runtime is imported.

Since 1.29 the official Linux and macOS builds of ONNX Runtime carry Microsoft's 1DS telemetry
(onnxruntime/core/platform/posix/telemetry.cc): importing the module writes a persistent device
id and an event cache under ~/.cache/Microsoft/DeveloperTools/.onnxruntime, and some ten
seconds later its uploader looks up mobile.events.data.microsoft.com to send the events.
Its opt-out is an environment variable read once, when the native library initialises, and
latched for the process: with it nothing is written, queued or sent. It has to be in the
environment before `import onnxruntime`; it stays there so that every process started from this
one (a batch's workers) has it too. It overrides a value of "0" the user may have set: blindspot
never lets a library report on its user.

This package's `__init__` imports this module, so every import of ONNX Runtime in blindspot
(all of them in `blindspot.detect`) comes after it; tests/test_no_network.py watches the home.
"""

from __future__ import annotations

import os

# The name the release builds read (1.32.0 knows only this one), and the one some of ONNX
# Runtime's sources read (onnxruntime/core/platform/telemetry_environment.h): "1" is off for both.
OPT_OUT = ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED")


def disable() -> None:
    """Put ONNX Runtime's telemetry opt-out into this process's environment."""
    for name in OPT_OUT:
        os.environ[name] = "1"


disable()
