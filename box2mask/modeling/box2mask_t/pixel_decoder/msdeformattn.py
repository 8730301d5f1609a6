"""Pixel decoder of Box2Mask-T: an MSDeformAttn encoder over res3–res5 plus a stride-4 lateral.

Shape glossary: B batch, C channels (``conv_dim``), L encoder levels, S = Σ_l H_l·W_l.
"""

from typing import Dict, List, Tuple

import fvcore.nn.weight_init as weight_init
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from torch import nn

from .ms_deform_attn import MSDeformAttn
from .position_encoding import PositionEmbeddingSine

__all__ = ["MSDeformAttnEncoder", "MSDeformAttnPixelDecoder"]


class MSDeformAttnEncoderLayer(nn.Module):
    """Deformable self-attention over all levels, then a ReLU FFN; post-norm."""

    def __init__(
        self, d_model: int, d_ffn: int, dropout: float, n_levels: int, n_heads: int, n_points: int
    ):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, pos, reference_points, spatial_shapes, level_start_index):
        """src, pos [B, S, C]; reference_points [B, S, L, 2]. Returns [B, S, C]."""
        attn = self.self_attn(src + pos, reference_points, src, spatial_shapes, level_start_index)
        src = self.norm1(src + self.dropout1(attn))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class MSDeformAttnEncoder(nn.Module):
    """Stack of :class:`MSDeformAttnEncoderLayer` with learned level embeddings.

    Args:
        d_model, nhead, num_layers, dim_feedforward, dropout, num_levels, n_points: sizes.
    """

    def __init__(
        self,
        *,
        d_model: int = 256,
        nhead: int = 8,
        num_layers: int = 6,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
        num_levels: int = 3,
        n_points: int = 4,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            MSDeformAttnEncoderLayer(d_model, dim_feedforward, dropout, num_levels, nhead, n_points)
            for _ in range(num_layers)
        )
        self.level_embed = nn.Parameter(torch.empty(num_levels, d_model))
        nn.init.normal_(self.level_embed)

    @staticmethod
    def reference_points(spatial_shapes: torch.Tensor, batch: int, device) -> torch.Tensor:
        """Pixel centres of every level, normalised to [0, 1]: [B, S, L, 2] (x, y)."""
        points = []
        for h, w in spatial_shapes.tolist():
            ys, xs = torch.meshgrid(
                (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h,
                (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w,
                indexing="ij",
            )
            points.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], -1))
        ref = torch.cat(points, 0)  # [S, 2]
        return ref[None, :, None, :].expand(batch, -1, len(points), -1)

    def forward(self, srcs: List[torch.Tensor], pos_embeds: List[torch.Tensor]):
        """
        Args:
            srcs: L tensors [B, C, H_l, W_l]; pos_embeds: their positional encodings (same shapes).
        Returns:
            memory [B, S, C], spatial_shapes [L, 2] long, level_start_index [L] long.
        """
        src_flat, pos_flat, shapes = [], [], []
        for lvl, (src, pos) in enumerate(zip(srcs, pos_embeds)):
            shapes.append(src.shape[-2:])
            src_flat.append(src.flatten(2).transpose(1, 2))  # [B, HW, C]
            pos_flat.append(pos.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1))
        src = torch.cat(src_flat, 1)
        pos = torch.cat(pos_flat, 1)
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=src.device)
        sizes = spatial_shapes.prod(1)
        level_start_index = torch.cat((sizes.new_zeros(1), sizes.cumsum(0)[:-1]))
        ref = self.reference_points(spatial_shapes, src.shape[0], src.device).to(src.dtype)
        out = src
        for layer in self.layers:
            out = layer(out, pos, ref, spatial_shapes, level_start_index)
        return out, spatial_shapes, level_start_index


class MSDeformAttnPixelDecoder(nn.Module):
    """Mask2Former's pixel decoder: deformable encoder on the coarse levels, FPN-style lateral
    on the finer ones down to ``common_stride``, and a 1×1 conv producing the mask features.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        transformer_in_features: List[str],
        conv_dim: int,
        mask_dim: int,
        norm: str = "GN",
        common_stride: int = 4,
        transformer_dropout: float = 0.0,
        transformer_nheads: int = 8,
        transformer_dim_feedforward: int = 1024,
        transformer_enc_layers: int = 6,
        transformer_n_points: int = 4,
    ):
        """
        Args:
            input_shape: backbone output shapes of the features used (e.g. res2..res5).
            transformer_in_features: the features the encoder refines (e.g. res3..res5).
            conv_dim: channels of the encoder and of the lateral/output convs.
            mask_dim: channels of the mask features.
            norm: normalisation of the convs ("GN" uses 32 groups).
            common_stride: stride of the mask features (must be ≤ the encoder's finest stride).
            transformer_*: encoder sizes (dropout, heads, FFN width, layers, sampling points).
        """
        super().__init__()
        shapes = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [k for k, _ in shapes]
        missing = [f for f in transformer_in_features if f not in input_shape]
        if missing:
            raise ValueError(
                f"encoder features {missing} are not among the backbone outputs "
                f"{self.in_features}: check MODEL.BOX2MASK_T.DEFORM_IN_FEATURES"
            )
        # encoder levels from low to high resolution (res5 first), as the decoder consumes them
        enc = sorted(transformer_in_features, key=lambda k: -input_shape[k].stride)
        self.transformer_in_features = enc
        self.transformer_num_levels = len(enc)
        self.input_proj = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(input_shape[k].channels, conv_dim, 1),
                get_norm(norm, conv_dim) or nn.Identity(),
            )
            for k in enc
        )
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
        self.transformer = MSDeformAttnEncoder(
            d_model=conv_dim,
            nhead=transformer_nheads,
            num_layers=transformer_enc_layers,
            dim_feedforward=transformer_dim_feedforward,
            dropout=transformer_dropout,
            num_levels=len(enc),
            n_points=transformer_n_points,
        )
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2)

        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=1)
        weight_init.c2_xavier_fill(self.mask_features)
        # the number of multi-scale outputs the transformer decoder uses
        self.maskformer_num_feature_levels = 3
        self.common_stride = common_stride
        finest_enc_stride = min(input_shape[k].stride for k in enc)
        lateral_names = [
            k
            for k in self.in_features
            if common_stride <= input_shape[k].stride < finest_enc_stride
        ]
        self.lateral_features = lateral_names[::-1]  # coarse to fine
        use_bias = norm == ""
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for k in self.lateral_features:
            lateral = Conv2d(
                input_shape[k].channels, conv_dim, 1, bias=use_bias, norm=get_norm(norm, conv_dim)
            )
            output = Conv2d(
                conv_dim,
                conv_dim,
                3,
                padding=1,
                bias=use_bias,
                norm=get_norm(norm, conv_dim),
                activation=F.relu,
            )
            weight_init.c2_xavier_fill(lateral)
            weight_init.c2_xavier_fill(output)
            self.lateral_convs.append(lateral)
            self.output_convs.append(output)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        t = cfg.MODEL.BOX2MASK_T
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in t.IN_FEATURES},
            "transformer_in_features": list(t.DEFORM_IN_FEATURES),
            "conv_dim": t.CONVS_DIM,
            "mask_dim": t.MASK_DIM,
            "norm": t.NORM,
            "common_stride": t.COMMON_STRIDE,
            "transformer_dropout": t.DROPOUT,
            "transformer_nheads": t.ENC_NHEADS,
            "transformer_dim_feedforward": t.ENC_DIM_FEEDFORWARD,
            "transformer_enc_layers": t.ENC_LAYERS,
            "transformer_n_points": t.ENC_N_POINTS,
        }

    def forward_features(
        self, features: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, List[torch.Tensor]]:
        """
        Args:
            features: backbone outputs by name, [B, C_k, H_k, W_k].
        Returns:
            mask_features [B, mask_dim, H/common_stride, W/common_stride],
            the encoder output at the coarsest level [B, C, H_5, W_5],
            multi_scale_features: 3 tensors [B, C, H_l, W_l], coarse to fine (res5, res4, res3).
        """
        srcs, pos = [], []
        for proj, name in zip(self.input_proj, self.transformer_in_features):
            x = features[name].float()
            srcs.append(proj(x))
            pos.append(self.pe_layer(srcs[-1]))
        memory, spatial_shapes, level_start_index = self.transformer(srcs, pos)
        b = memory.shape[0]
        sizes = spatial_shapes.prod(1).tolist()
        outs = [
            z.transpose(1, 2).reshape(b, -1, int(h), int(w))
            for z, (h, w) in zip(memory.split(sizes, dim=1), spatial_shapes.tolist())
        ]
        for name, lateral, output in zip(
            self.lateral_features, self.lateral_convs, self.output_convs
        ):
            cur = lateral(features[name].float())
            y = cur + F.interpolate(
                outs[-1], size=cur.shape[-2:], mode="bilinear", align_corners=False
            )
            outs.append(output(y))
        multi_scale = outs[: self.maskformer_num_feature_levels]
        return self.mask_features(outs[-1]), outs[0], multi_scale
