"""Masked-attention transformer decoder of Box2Mask-T (Mask2Former's, box-supervised).

Shape glossary: B batch, Q queries, C hidden channels, K = C_mask mask-embedding channels,
H×W mask resolution (stride ``common_stride`` of the padded input), M heads, L = 3 levels.
"""

from typing import Dict, List

import fvcore.nn.weight_init as weight_init
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d
from torch import nn

from ..pixel_decoder.position_encoding import PositionEmbeddingSine
from .layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer

__all__ = ["MultiScaleMaskedTransformerDecoder"]


class MultiScaleMaskedTransformerDecoder(nn.Module):
    """Learned queries refined by masked cross-attention → self-attention → FFN, cycling over
    the 3 multi-scale features; a prediction (class logits and mask logits) is made from the
    initial queries and after every layer (deep supervision).
    """

    @configurable
    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        hidden_dim: int,
        num_queries: int,
        nheads: int,
        dim_feedforward: int,
        dec_layers: int,
        pre_norm: bool,
        mask_dim: int,
        enforce_input_project: bool = False,
        dropout: float = 0.0,
    ):
        """
        Args:
            in_channels: channels of the multi-scale features (the pixel decoder's conv_dim).
            num_classes: C object classes; the class head predicts C+1 (last = no object).
            hidden_dim: query width.
            num_queries: Q.
            nheads: attention heads M.
            dim_feedforward: FFN width.
            dec_layers: decoder layers (there are ``dec_layers + 1`` predictions).
            pre_norm: pre-norm layers instead of post-norm.
            mask_dim: channels of the mask features (mask embedding width).
            enforce_input_project: 1×1 conv on the inputs even when channels match.
            dropout: dropout of the attention and FFN layers.
        """
        super().__init__()
        self.num_classes = num_classes
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.num_queries = num_queries
        self.num_feature_levels = 3
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2)
        self.self_attn = nn.ModuleList()
        self.cross_attn = nn.ModuleList()
        self.ffn = nn.ModuleList()
        for _ in range(dec_layers):
            self.cross_attn.append(CrossAttentionLayer(hidden_dim, nheads, dropout, pre_norm))
            self.self_attn.append(SelfAttentionLayer(hidden_dim, nheads, dropout, pre_norm))
            self.ffn.append(FFNLayer(hidden_dim, dim_feedforward, dropout, pre_norm))
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)  # learnable query features
        self.query_embed = nn.Embedding(num_queries, hidden_dim)  # learnable query positions
        self.level_embed = nn.Embedding(self.num_feature_levels, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(self.num_feature_levels):
            if in_channels != hidden_dim or enforce_input_project:
                proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
                weight_init.c2_xavier_fill(proj)
                self.input_proj.append(proj)
            else:
                self.input_proj.append(nn.Identity())
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        t = cfg.MODEL.BOX2MASK_T
        return {
            "in_channels": in_channels,
            "num_classes": cfg.MODEL.BOX2MASK.NUM_CLASSES,
            "hidden_dim": t.HIDDEN_DIM,
            "num_queries": t.NUM_QUERIES,
            "nheads": t.NHEADS,
            "dim_feedforward": t.DIM_FEEDFORWARD,
            "dec_layers": t.DEC_LAYERS,
            "pre_norm": t.PRE_NORM,
            "mask_dim": t.MASK_DIM,
            "enforce_input_project": t.ENFORCE_INPUT_PROJ,
            "dropout": t.DROPOUT,
        }

    def forward(self, x: List[torch.Tensor], mask_features: torch.Tensor) -> Dict:
        """
        Args:
            x: 3 features [B, C_in, H_l, W_l], coarse to fine.
            mask_features: [B, K, H, W].
        Returns:
            dict with "pred_logits" [B, Q, C+1] and "pred_masks" [B, Q, H, W] of the last layer,
            and "aux_outputs": a list of ``dec_layers`` such dicts (initial queries first).
        """
        if len(x) != self.num_feature_levels:
            raise ValueError(f"expected {self.num_feature_levels} feature levels, got {len(x)}")
        src, pos, size_list = [], [], []
        for i in range(self.num_feature_levels):
            size_list.append(x[i].shape[-2:])
            pos.append(self.pe_layer(x[i]).flatten(2).permute(2, 0, 1))  # [HW, B, C]
            s = self.input_proj[i](x[i]).flatten(2) + self.level_embed.weight[i][None, :, None]
            src.append(s.permute(2, 0, 1))  # [HW, B, C]
        b = src[0].shape[1]
        query_embed = self.query_embed.weight.unsqueeze(1).repeat(1, b, 1)  # [Q, B, C]
        output = self.query_feat.weight.unsqueeze(1).repeat(1, b, 1)  # [Q, B, C]

        predictions_class, predictions_mask = [], []
        cls, masks, attn_mask = self.forward_prediction_heads(output, mask_features, size_list[0])
        predictions_class.append(cls)
        predictions_mask.append(masks)
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            # a query whose mask is empty everywhere attends to the whole level instead
            attn_mask[attn_mask.all(-1)] = False
            output = self.cross_attn[i](
                output, src[level], memory_mask=attn_mask, pos=pos[level], query_pos=query_embed
            )
            output = self.self_attn[i](output, query_pos=query_embed)
            output = self.ffn[i](output)
            next_size = size_list[(i + 1) % self.num_feature_levels]
            cls, masks, attn_mask = self.forward_prediction_heads(output, mask_features, next_size)
            predictions_class.append(cls)
            predictions_mask.append(masks)
        return {
            "pred_logits": predictions_class[-1],
            "pred_masks": predictions_mask[-1],
            "aux_outputs": [
                {"pred_logits": c, "pred_masks": m}
                for c, m in zip(predictions_class[:-1], predictions_mask[:-1])
            ],
        }

    def forward_prediction_heads(self, output, mask_features, attn_mask_target_size):
        """
        Args:
            output: [Q, B, C] queries; mask_features: [B, K, H, W];
            attn_mask_target_size: (h, w) of the level attended to next.
        Returns:
            class logits [B, Q, C+1], mask logits [B, Q, H, W], attention mask
            [B*M, Q, h*w] bool (True = masked: predicted probability < 0.5).
        """
        decoder_output = self.decoder_norm(output).transpose(0, 1)  # [B, Q, C]
        outputs_class = self.class_embed(decoder_output)
        mask_embed = self.mask_embed(decoder_output)  # [B, Q, K]
        outputs_mask = torch.einsum("bqc,bchw->bqhw", mask_embed, mask_features)
        attn_mask = F.interpolate(
            outputs_mask, size=tuple(attn_mask_target_size), mode="bilinear", align_corners=False
        )
        attn_mask = attn_mask.sigmoid().flatten(2) < 0.5  # [B, Q, hw]
        attn_mask = attn_mask.unsqueeze(1).repeat(1, self.num_heads, 1, 1).flatten(0, 1)
        return outputs_class, outputs_mask, attn_mask.detach()
