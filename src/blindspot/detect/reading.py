"""Reading text: the bundled PP-OCRv4 recognition model on ONNX Runtime, with CTC decoding.

`TextReader().read(rgb, boxes)` gives, for each box, the text the model reads in it and its
confidence (the mean probability of the characters read). The audit uses it to tell whether
text left in an output can still be read, and `plate_like` to tell a licence plate's string.
The character list is the model's own (its ONNX metadata `character`): no other file.
"""

from __future__ import annotations

import math
import re
import threading

import cv2
import numpy as np

from .onnx import load_model, session

MODEL_FILE = "ppocrv4_rec.onnx"
MODEL_SHA256 = "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"
HEIGHT = 48  # the model's input height
MIN_WIDTH = 320  # PP-OCR pads every line to at least this width (a 320:48 ratio)
BATCH = 6


def plate_like(text: str) -> bool:
    """Whether `text` reads like a licence plate: 5 to 10 letters and digits (spaces, dashes
    and dots aside), at least one of each. (Four would take model badges: "E350".)"""
    chars = re.sub(r"[\s\-.·:]", "", text)
    return (5 <= len(chars) <= 10 and chars.isascii() and chars.isalnum()
            and any(c.isdigit() for c in chars) and any(c.isalpha() for c in chars))


class TextReader:
    """One ONNX Runtime session of the PP-OCRv4 recognition model."""

    def __init__(self, threads: int = 0, device: str = "cpu") -> None:
        self.session = session(load_model(MODEL_FILE, MODEL_SHA256), threads, device)
        meta = self.session.get_modelmeta().custom_metadata_map
        # CTC: index 0 is the blank, then the model's characters, then a space.
        self.characters = ["", *meta["character"].splitlines(), " "]
        self._lock = threading.Lock()

    def read(self, rgb: np.ndarray, boxes: np.ndarray) -> list[tuple[str, float]]:
        """(text, confidence) read in each box `x1, y1, x2, y2` of `rgb` (H×W×3 uint8 RGB);
        ("", 0.0) for a box with nothing in it."""
        h, w = rgb.shape[:2]
        crops = []
        for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
            x1, y1 = max(0, math.floor(x1)), max(0, math.floor(y1))
            x2, y2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
            crops.append(rgb[y1:y2, x1:x2] if x2 > x1 and y2 > y1 else None)
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        # Lines of similar shape share a batch (each batch is padded to its widest line).
        ratios = [c.shape[1] / c.shape[0] if c is not None else 0.0 for c in crops]
        order = [i for i in np.argsort(ratios, kind="stable") if crops[i] is not None]
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            width = max(MIN_WIDTH, *(math.ceil(HEIGHT * ratios[i]) for i in batch))
            blob = np.stack([_normalised(crops[i], width) for i in batch])
            with self._lock:
                (probs,) = self.session.run(None, {"x": blob})
            for i, p in zip(batch, probs, strict=True):
                results[i] = self._decode(p)
        return results

    def _decode(self, probs: np.ndarray) -> tuple[str, float]:
        """Greedy CTC decoding of one line's T×C character probabilities."""
        best = probs.argmax(axis=1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        if not keep.any():
            return "", 0.0
        text = "".join(self.characters[i] for i in best[keep]).strip()
        return text, float(probs.max(axis=1)[keep].mean())


def _normalised(crop: np.ndarray, width: int) -> np.ndarray:
    """A crop as the model reads it: BGR, height `HEIGHT`, its width scaled alike (at most
    `width`), padded with zeros to `width`, in [-1, 1], channels first."""
    h, w = crop.shape[:2]
    resized_w = min(width, math.ceil(HEIGHT * w / h))
    line = cv2.resize(np.ascontiguousarray(crop[:, :, ::-1]), (resized_w, HEIGHT))
    out = np.zeros((3, HEIGHT, width), np.float32)
    out[:, :, :resized_w] = (line.astype(np.float32) / 255 - 0.5).transpose(2, 0, 1) / 0.5
    return out
