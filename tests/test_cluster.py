"""`blindspot cluster` on a local two-CPU Ray cluster: the same faces as a local run."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_batch import (
    assert_same_faces,
    make_clip,
    make_photos,
    outputs_complete,
    report_boxes,
    run_cli,
)

pytest.importorskip("ray")


def test_local_ray_cluster_covers_the_same_faces_as_a_local_run(tmp_path: Path) -> None:
    make_photos(tmp_path / "in", 3)
    make_clip(tmp_path / "in" / "clip.mp4")
    local = run_cli("in", "-o", "local", "--workers", "1", "--report", "local.json",
                    cwd=tmp_path)
    ray = run_cli("cluster", "in", "-o", "ray", "--address", "local", "--workers", "2",
                  "--report", "ray.json", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert ray.returncode == 0, ray.stderr
    assert ray.stderr.splitlines() == ["4 of 4 files done, 0 failed"]
    assert sorted(ray.stdout.replace("-> ray/", "-> local/").splitlines()) == \
        sorted(local.stdout.splitlines())
    assert_same_faces(report_boxes(tmp_path / "local.json"), report_boxes(tmp_path / "ray.json"))
    assert outputs_complete(tmp_path / "ray") == outputs_complete(tmp_path / "local")

    # Resumed with every output there: nothing to do, so no cluster is even asked.
    again = run_cli("cluster", "in", "-o", "ray", "--address", "local", "--resume",
                    cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("skipped") == 4, again.stderr
