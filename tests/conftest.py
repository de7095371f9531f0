"""Shared fixtures: real photos that installed packages ship, and known face positions."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

# The astronaut's face (brows to chin) in skimage.data.astronaut() (512×512): x1, y1, x2, y2.
ASTRONAUT_FACE = (180, 55, 272, 180)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="session")
def no_face() -> np.ndarray:
    """A photo without people (a cup of coffee)."""
    return data.coffee()


def face_region(image: np.ndarray, box: tuple[int, int, int, int] = ASTRONAUT_FACE,
                inset: int = 20) -> np.ndarray:
    x1, y1, x2, y2 = box
    return image[y1 + inset:y2 - inset, x1 + inset:x2 - inset]


def far_region(image: np.ndarray) -> np.ndarray:
    """A patch of the astronaut picture far from the face (the suit, bottom left)."""
    return image[400:500, 20:120]
