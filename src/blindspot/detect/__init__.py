"""Detectors: each finds one kind of thing that names a person and returns `Detections`.

`faces` (CenterFace, several scales and tiles); `tiles` is the grid they share.
"""
