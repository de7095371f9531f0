"""Export resemblyzer's GE2E speaker encoder to the ONNX model blindspot ships.

Run once by a developer (needs torch, resemblyzer and the `onnx` package, none of which
blindspot itself uses):
    pip install torch==2.13.0 onnx
    pip install --no-deps resemblyzer==0.1.4
    python tools/export_speaker_model.py src/blindspot/models/ge2e_speaker.onnx
It checks the SHA-256 of the wheel's `resemblyzer/pretrained.pt`, loads it into resemblyzer's
`VoiceEncoder` (LSTM 3 × 256 on 40 mel channels, linear 256 → 256, ReLU, L2 norm: `forward`
unchanged), exports it with torch's TorchScript exporter (opset 17; input `mels`
[batch, frames, 40] float32, non-log mel power; output `embeddings` [batch, 256], unit length;
batch and frames dynamic), checks ONNX Runtime against torch on random input, and prints the
output's SHA-256. Record it in src/blindspot/models/README.md and src/blindspot/audio/speaker.py.
Weights are not changed.

    python tools/export_speaker_model.py --compare ../shared/data/voice
compares, on every clip of the voice corpus (`speakers.tsv`), `blindspot.audio.speaker.embed`
with resemblyzer's own `embed_utterance` of the same samples after its volume normalisation
(what its `preprocess_wav` does but the webrtcvad trimming): prints the cosines.
"""

import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

# isort: off
import blindspot.detect  # noqa: F401  (first: ONNX Runtime's telemetry off before its import)
import onnxruntime as ort
# isort: on
import resemblyzer
import torch
from resemblyzer import VoiceEncoder

SOURCE_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"


def main(dst: str) -> None:
    import onnx

    weights = Path(resemblyzer.__file__).parent / "pretrained.pt"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"unexpected {weights}: sha256 {digest}")
    torch.manual_seed(0)
    encoder = VoiceEncoder("cpu", verbose=False, weights_fpath=weights).eval()
    example = torch.rand(2, 160, 40)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            encoder, (example,), str(path), dynamo=False, opset_version=17,
            input_names=["mels"], output_names=["embeddings"],
            dynamic_axes={"mels": {0: "batch", 1: "frames"}, "embeddings": {0: "batch"}},
        )
        model = onnx.load(str(path))
    model.producer_name, model.producer_version = "blindspot tools/export_speaker_model.py", ""
    del model.metadata_props[:]
    for key, value in {
        "source": "resemblyzer 0.1.4 (PyPI wheel), resemblyzer/pretrained.pt, sha256 "
                  + SOURCE_SHA256,
        "licence": "Apache-2.0, Copyright 2019 Resemble.AI",
    }.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    out = model.SerializeToString()

    run = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for batch, frames in [(1, 160), (5, 160), (3, 97), (2, 400)]:
        mels = rng.random((batch, frames, 40), dtype=np.float32) * 5
        with torch.no_grad():
            want = encoder(torch.from_numpy(mels)).numpy()
        got = run.run(None, {"mels": mels})[0]
        error = float(np.abs(got - want).max())
        if error > 1e-5:
            sys.exit(f"ONNX Runtime differs from torch by {error} at {batch}×{frames}")
    Path(dst).write_bytes(out)
    print(hashlib.sha256(out).hexdigest())


def compare(folder: Path) -> None:
    import soundfile
    from resemblyzer.audio import normalize_volume

    from blindspot.audio.speaker import embed, similarity

    torch.set_num_threads(1)
    encoder = VoiceEncoder("cpu", verbose=False)
    lines = (folder / "speakers.tsv").read_text().splitlines()[1:]
    cosines, diffs = [], []
    for line in lines:
        file = line.split("\t")[0]
        wav, rate = soundfile.read(str(folder / file), dtype="float32")
        if rate != 16000:
            sys.exit(f"{file}: {rate} Hz; the comparison needs 16 kHz (no resampling)")
        theirs = encoder.embed_utterance(normalize_volume(wav, -30, increase_only=True))
        ours = embed(wav, rate, min_seconds=0)
        cosines.append(similarity(ours, theirs))
        diffs.append(float(np.abs(ours - theirs).max()))
    c = np.array(cosines)
    print(f"{len(c)} clips: cosine(blindspot, resemblyzer) min {c.min():.6f}, "
          f"mean {c.mean():.6f}, median {np.median(c):.6f}; "
          f"max |1 - cosine| {np.abs(1 - c).max():.1e}; "
          f"largest difference of one component {max(diffs):.1e}")


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]))
    else:
        main(sys.argv[1])
