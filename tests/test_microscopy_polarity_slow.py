"""Slow: Box2Mask-C with the demo config, trained from boxes on microscopy_train for the CPU
schedule (400 iterations, ~5 minutes on 2 cores), segments the nuclei, not their halo: masks
on their objects (polarity) and mask AP above the ground-truth boxes used as masks (51.8)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_microscopy_masks_from_boxes_are_not_inverted(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks/accuracy.py"), "--only", "c-box", "--iters",
           "400", "--test-set", "microscopy_val", "--output", str(tmp_path)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    run = json.loads((tmp_path / "accuracy.json").read_text())["runs"]["c-box"]
    assert run["polarity"] >= 0.85, run
    assert run["AP"] > 51.8, run
