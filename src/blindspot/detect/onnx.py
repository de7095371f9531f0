"""The bundled models on ONNX Runtime: loading a model file with its hash checked, and one
inference session with blindspot's options (threads, device)."""

from __future__ import annotations

import hashlib
from importlib import resources

# Imported after `blindspot.detect.ort_telemetry` (this package's __init__): its telemetry off.
import onnxruntime as ort

from ..errors import BlindspotError

# An explicit provider list: ONNX Runtime's default order picks a slower provider on CPUs.
PROVIDERS = ["CPUExecutionProvider"]
DEVICES = ("cpu", "cuda", "auto")
CUDA_PROVIDER = "CUDAExecutionProvider"


def providers(device: str) -> list[str]:
    """ONNX Runtime's execution providers for `device`; BlindspotError when it can't be had."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    has_cuda = CUDA_PROVIDER in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise BlindspotError("--device cuda: ONNX Runtime has no CUDA provider here (install "
                             "'blindspot[gpu]' on a machine with an NVIDIA GPU and CUDA)")
    if device == "cpu" or not has_cuda:
        return list(PROVIDERS)
    return [CUDA_PROVIDER, *PROVIDERS]


def load_model(file: str, sha256: str) -> bytes:
    """The bytes of the bundled model `blindspot/models/FILE`; BlindspotError unless they hash
    to `sha256` (a damaged or swapped model is never run)."""
    data = resources.files("blindspot").joinpath("models", file).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise BlindspotError(f"bundled model {file} is damaged (sha256 {digest})")
    return data


def session(model: bytes, threads: int = 0, device: str = "cpu") -> ort.InferenceSession:
    """An inference session of `model` on `device` with `threads` intra-op threads (0: ONNX
    Runtime's default, one per core)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    if threads == 1:  # one thread means one: no inter-op pool
        options.inter_op_num_threads = 1
    # Idle pool threads sleep instead of spinning: spinning took the cores the decoder, the
    # encoder and blindspot's own Python work needed (on 2 cores, a video cost 1.5× the CPU
    # seconds with it, and no less wall time).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=providers(device))
