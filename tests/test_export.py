"""tools/export.py: the TorchScript and ONNX graphs give the eager model's scores and logits."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import export  # noqa: E402
from tiny_model import write_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


def _eager(model, image):
    with torch.no_grad():
        return export.Box2MaskCRaw(model).eval()(image)


def test_torchscript_equals_eager(tiny, tmp_path):
    config, weights = tiny
    model = export.load_model(str(config), str(weights))
    out = tmp_path / "m.pt"
    export.main(["--config-file", str(config), "--weights", str(weights), "--format",
                 "torchscript", "--out", str(out), "--height", "64", "--width", "96"])
    image = torch.rand(1, 3, 64, 96) * 255
    scores, logits = _eager(model, image)
    assert scores.shape == (12 * 12 + 8 * 8 + 6 * 6 + 4 * 4 + 3 * 3, 2)
    assert logits.shape == (scores.shape[0], 16, 24)
    traced = torch.jit.load(str(out))
    with torch.no_grad():
        t_scores, t_logits = traced(image)
    torch.testing.assert_close(t_scores, scores)
    torch.testing.assert_close(t_logits, logits)


def test_onnx_equals_eager(tiny, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    config, weights = tiny
    model = export.load_model(str(config), str(weights))
    out = tmp_path / "m.onnx"
    export.export(model, "onnx", str(out), 64, 96)
    image = torch.rand(1, 3, 64, 96) * 255
    scores, logits = _eager(model, image)
    runtime = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    o_scores, o_logits = runtime.run(None, {"image": image.numpy()})
    np.testing.assert_allclose(o_scores, scores.numpy(), atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(o_logits, logits.numpy(), atol=1e-3, rtol=1e-3)


def test_what_cannot_be_exported_is_named(tiny, tmp_path):
    config, weights = tiny
    t_config = tmp_path / "t.yaml"
    t_config.write_text(f'_BASE_: "{Path(__file__).resolve().parents[1]}'
                        '/configs/demo/box2mask_t_effnet_lite0.yaml"\n')
    with pytest.raises(NotImplementedError, match="deformable attention"):
        export.load_model(str(t_config), str(weights))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        export.load_model(str(config), str(tmp_path / "nope.pth"))
