"""The detectors' models in bfloat16 on the CPU, through OpenVINO, where the processor computes
it natively.

On processors with native bfloat16 arithmetic (AVX-512 BF16, AMX: recent AMD EPYC and Ryzen,
Intel Xeon since Sapphire Rapids) CenterFace and PP-OCR's text detector run about twice as
fast in bfloat16 on OpenVINO as in float32 on ONNX Runtime, with the same recall in their
benchmarks (docs/speed.md). Elsewhere, or asked for "f32", a model stays in float32 on ONNX
Runtime (OpenVINO's float32 is no faster there). ONNX Runtime has no bfloat16 path for x86
CPUs. `open_model` picks one or the other; both answer `run(None, {name: input})`.
"""

from __future__ import annotations

import functools
import platform
import queue
import sys
from typing import Any

import numpy as np
import onnxruntime as ort

from .onnx import CUDA_PROVIDER, providers, session

# Importing OpenVINO sends a usage event to Google Analytics (its model converter's telemetry,
# `openvino_telemetry`, from a forked process) and writes a client id under ~/intel. blindspot
# never goes on the network: that module is made unimportable before OpenVINO is imported, and
# OpenVINO falls back to its own no-op stub (tests/test_no_network.py watches this).
sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]

PRECISIONS = ("auto", "f32")
# Kernels OpenVINO keeps per stream for the input sizes it has seen (its default, 5000, let a
# long video's memory grow with the sizes of the light pass's regions: a 1080p clip looped 8×
# peaked 1.25× its single run, 1.11× with 500, at the same speed within noise).
KERNEL_CACHE = 500
# OpenVINO is installed on x86-64 only (pyproject.toml): that is where bfloat16 was measured.
X86_64 = ("x86_64", "amd64")


@functools.cache
def _core() -> Any | None:
    """OpenVINO's runtime, or None off x86-64 or where it is not installed (the models stay
    on ONNX Runtime)."""
    if platform.machine().lower() not in X86_64:
        return None
    try:
        import openvino
    except ImportError:
        return None
    return openvino.Core()


def _known(precision: str) -> str:
    """`precision`, if it is one of `PRECISIONS`; ValueError otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision


def native_precision(requested: str = "auto") -> str:
    """The precision the model runs in on the CPU for `requested`: "bf16" when "auto", OpenVINO
    is installed and the CPU computes bfloat16 natively, else "f32"."""
    core = _core() if _known(requested) == "auto" else None
    if core is None:
        return "f32"
    return "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


def open_model(model: bytes, threads: int = 0, device: str = "cpu", precision: str = "auto"
               ) -> tuple[str, CpuModel | ort.InferenceSession]:
    """The precision ("bf16" or "f32") `model` runs in and what runs it: in bfloat16 on OpenVINO
    where `native_precision(precision)` says so (CPU only), else an ONNX Runtime session on
    `device` with `threads` (see `onnx.session`)."""
    _known(precision)  # refused on every device, not only where the CPU runs it
    if CUDA_PROVIDER not in providers(device) and native_precision(precision) == "bf16":
        return "bf16", CpuModel(model, threads)
    return "f32", session(model, threads, device)


class CpuModel:
    """One ONNX model of one input compiled for OpenVINO's CPU plugin in bfloat16, for
    throughput: `streams` inferences run at once, each on its own cores (on 2 cores: 2 of one
    thread each, which computes more per core than one inference on both). `run` is ONNX
    Runtime's call and may be called from several threads at once (one inference request
    each; more threads wait for one)."""

    def __init__(self, model: bytes, threads: int = 0) -> None:
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "THROUGHPUT",
            # Several workers share the cores: threads pinned to cores would pile up on the
            # same ones.
            "ENABLE_CPU_PINNING": False,
            "CPU_RUNTIME_CACHE_CAPACITY": KERNEL_CACHE,
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = _core()
        if core is None:
            raise RuntimeError("OpenVINO is not installed here")
        self.compiled = core.compile_model(core.read_model(model, b""), "CPU", config)
        self.streams = max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Each request runs once here, in this one thread: the first use of a tensor's data
        # from Python sets up NumPy's API inside OpenVINO's module (once per process), and two
        # threads doing that first at once deadlocked on the GIL (seen 1 run in 10 of a video).
        # Dynamic sizes: 32 px.
        warm = np.zeros([d.get_length() if d.is_static else 32
                         for d in self.compiled.input(0).get_partial_shape()], np.float32)
        for _ in range(self.streams):
            request = self.compiled.create_infer_request()
            request.infer({0: warm})
            for i in range(len(self.compiled.outputs)):
                _ = request.get_output_tensor(i).data
            self._idle.put(request)

    def run(self, output_names: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """All the model's outputs, in its order, for `feed`'s one input (as ONNX Runtime's
        `InferenceSession.run(None, feed)`)."""
        (inputs,) = feed.values()
        request = self._idle.get()
        try:
            request.infer({0: inputs})
            return [request.get_output_tensor(i).data.copy()
                    for i in range(len(self.compiled.outputs))]
        finally:
            self._idle.put(request)
