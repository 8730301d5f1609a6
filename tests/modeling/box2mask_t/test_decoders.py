import pytest
import torch

from box2mask.modeling.box2mask_t.pixel_decoder import (
    MSDeformAttn,
    MSDeformAttnPixelDecoder,
    PositionEmbeddingSine,
)
from box2mask.modeling.box2mask_t.transformer_decoder import MultiScaleMaskedTransformerDecoder

from .conftest import NUM_CLASSES, TinyBackbone


def test_position_embedding_shape_and_range():
    pos = PositionEmbeddingSine(8)(torch.zeros(2, 5, 3, 7))
    assert pos.shape == (2, 16, 3, 7)
    assert pos.abs().max() <= 1


def test_ms_deform_attn_shapes_and_checks():
    attn = MSDeformAttn(d_model=16, n_levels=2, n_heads=4, n_points=3)
    shapes = torch.tensor([[5, 7], [3, 4]])
    start = torch.tensor([0, 35])
    value = torch.randn(2, 47, 16)
    query = torch.randn(2, 6, 16)
    ref = torch.rand(2, 6, 2, 2)
    out = attn(query, ref, value, shapes, start)
    assert out.shape == (2, 6, 16)
    out.sum().backward()
    assert attn.sampling_offsets.weight.grad is not None
    with pytest.raises(ValueError, match="spatial_shapes"):
        attn(query, ref, value[:, :40], shapes, start)
    with pytest.raises(ValueError, match="divisible"):
        MSDeformAttn(d_model=10, n_heads=4)


def test_ms_deform_attn_initial_offsets_ring():
    attn = MSDeformAttn(d_model=16, n_levels=1, n_heads=4, n_points=2)
    bias = attn.sampling_offsets.bias.view(4, 1, 2, 2)
    # head 0 looks right (+x), point k at distance k+1
    assert torch.allclose(bias[0, 0], torch.tensor([[1.0, 0.0], [2.0, 0.0]]), atol=1e-6)
    assert torch.count_nonzero(attn.attention_weights.weight) == 0


def _pixel_decoder(enc_layers=1):
    backbone = TinyBackbone()
    decoder = MSDeformAttnPixelDecoder(
        backbone.output_shape(),
        transformer_in_features=["res3", "res4", "res5"],
        conv_dim=32,
        mask_dim=24,
        norm="GN",
        common_stride=4,
        transformer_nheads=4,
        transformer_dim_feedforward=64,
        transformer_enc_layers=enc_layers,
        transformer_n_points=2,
    )
    return backbone, decoder


@pytest.mark.parametrize("size", [(70, 90), (64, 64), (33, 47)])
def test_pixel_decoder_shapes_odd_sizes(size):
    backbone, decoder = _pixel_decoder()
    feats = backbone(torch.randn(2, 3, *size))
    mask_features, enc_out, multi_scale = decoder.forward_features(feats)
    assert mask_features.shape == (2, 24) + feats["res2"].shape[-2:]
    assert enc_out.shape == (2, 32) + feats["res5"].shape[-2:]
    assert [tuple(x.shape[-2:]) for x in multi_scale] == [
        tuple(feats[k].shape[-2:]) for k in ("res5", "res4", "res3")
    ]
    assert all(torch.isfinite(x).all() for x in [mask_features, *multi_scale])


def test_pixel_decoder_rejects_unknown_feature():
    backbone = TinyBackbone()
    with pytest.raises(ValueError, match="DEFORM_IN_FEATURES"):
        MSDeformAttnPixelDecoder(
            backbone.output_shape(), transformer_in_features=["res6"], conv_dim=32, mask_dim=32
        )


def _transformer_decoder(layers=4, queries=5):
    return MultiScaleMaskedTransformerDecoder(
        32,
        num_classes=NUM_CLASSES,
        hidden_dim=32,
        num_queries=queries,
        nheads=4,
        dim_feedforward=64,
        dec_layers=layers,
        pre_norm=False,
        mask_dim=24,
    )


@pytest.mark.parametrize("pre_norm", [False, True])
def test_transformer_decoder_shapes(pre_norm):
    backbone, pixel = _pixel_decoder()
    dec = MultiScaleMaskedTransformerDecoder(
        32,
        num_classes=NUM_CLASSES,
        hidden_dim=48,
        num_queries=5,
        nheads=4,
        dim_feedforward=64,
        dec_layers=4,
        pre_norm=pre_norm,
        mask_dim=24,
    )
    mask_features, _, multi_scale = pixel.forward_features(backbone(torch.randn(2, 3, 70, 90)))
    out = dec(multi_scale, mask_features)
    h, w = mask_features.shape[-2:]
    assert out["pred_logits"].shape == (2, 5, NUM_CLASSES + 1)
    assert out["pred_masks"].shape == (2, 5, h, w)
    assert len(out["aux_outputs"]) == 4  # initial prediction + 3 intermediate layers
    for aux in out["aux_outputs"]:
        assert aux["pred_masks"].shape == (2, 5, h, w)


def test_transformer_decoder_all_masked_rows_are_unmasked():
    dec = _transformer_decoder()
    # every mask logit very negative: every attention row would be fully masked
    with torch.no_grad():
        last = dec.mask_embed.layers[-1]
        last.weight.zero_()
        last.bias.fill_(1.0)
    x = [torch.randn(1, 32, s, s) for s in (2, 4, 8)]
    mask_features = torch.full((1, 24, 16, 16), -50.0)
    out = dec(x, mask_features)
    assert torch.isfinite(out["pred_logits"]).all()
    assert all(torch.isfinite(a["pred_logits"]).all() for a in out["aux_outputs"])


def test_transformer_decoder_wrong_levels():
    with pytest.raises(ValueError, match="3 feature levels"):
        _transformer_decoder()([torch.randn(1, 32, 4, 4)] * 2, torch.randn(1, 24, 8, 8))


def test_timm_swin_backbone_tiny():
    from box2mask.modeling.backbone import TimmSwinBackbone

    backbone = TimmSwinBackbone(
        model_name="swin_tiny_patch4_window7_224",
        pretrained=False,
        drop_path_rate=0.0,
        model_kwargs=dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4)),
    )
    shapes = backbone.output_shape()
    assert [shapes[k].stride for k in ("res2", "res3", "res4", "res5")] == [4, 8, 16, 32]
    out = backbone(torch.randn(1, 3, 64, 96))
    for k, v in out.items():
        assert v.shape == (1, shapes[k].channels, 64 // shapes[k].stride, 96 // shapes[k].stride)
    with pytest.raises(ValueError, match="multiple of 32"):
        backbone(torch.randn(1, 3, 70, 90))
