"""The package's CLIs (``python -m box2mask....``) run their module fresh: none is already
imported by ``import box2mask``, which Python warns about ("found in sys.modules after import of
package ... may result in unpredictable behaviour")."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_MODULES = [
    "box2mask.annotate",
    "box2mask.data.synthetic",
    "box2mask.data.devsets.microscopy",
    "box2mask.data.devsets.textured",
    "box2mask.data.devsets.copypaste",
    "box2mask.data.devsets.real_photos",
    "box2mask.evaluation.box_baselines",
    "box2mask.evaluation.polarity",
]


@pytest.mark.parametrize("module", CLI_MODULES)
def test_cli_module_runs_without_reimport_warning(module):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", module, "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout
