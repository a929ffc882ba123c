from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.models.utils import PatchMerging
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector
from mmrazor.registry import MODELS

GridSize = Union[int, Sequence[int]]


def _check_stage(stage: int) -> None:
    if stage not in (1, 2, 3, 4):
        raise ValueError(f'OFA-KD projector stage must be 1, 2, 3 or 4, got '
                         f'{stage}.')


def init_projector_weights(module: nn.Module) -> None:
    """OFA-KD projector initialisation: conv weights Kaiming normal
    (fan_out, ReLU), BatchNorm weight 1 / bias 0, Linear weights truncated
    normal (std 0.02) with bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(
                m.weight, mode='fan_out', nonlinearity='relu')
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SeparableDownsample(nn.Sequential):
    """Separable down-sampling block of the OFA-KD feature-map projector.

    depthwise 3x3 /2 -> pointwise 1x1 -> BN -> ReLU -> depthwise 3x3 ->
    pointwise 1x1 (to ``out_channels``) -> BN -> ReLU; convs without bias.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, stride=2, padding=1,
                      groups=in_channels, bias=False),
            nn.Conv2d(in_channels, in_channels, 1, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, in_channels, 3, stride=1, padding=1,
                      groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


@MODELS.register_module()
class OFAKDConvProjector(BaseConnector):
    """OFA-KD exit branch for a feature map (B, C, H, W) -> logits (B, K).

    Stage k < 4: ``4 - k`` :class:`SeparableDownsample` blocks with channels
    C -> 2C -> 4C ..., the last one to ``D = max(student_dim, teacher_dim)``;
    stage 4: a 1x1 conv (with bias) C -> D. Then global average pooling and
    ``Linear(D, num_classes)``.

    Args:
        in_channels (int): Channels C of the stage's feature map.
        stage (int): Stage index k, 1..4.
        student_dim (int): Final feature width d_S of the student.
        teacher_dim (int): Final feature width d_T of the teacher.
        num_classes (int): Number of classes K.
        data_format (str): ``'channels_first'`` for (B, C, H, W) input,
            ``'channels_last'`` for (B, H, W, C) (permuted first; the layers
            are the same). Defaults to ``'channels_first'``.

    The weights get OFA-KD's initialisation (:func:`init_projector_weights`)
    on construction; there is no ``init_cfg``.
    """

    def __init__(self,
                 in_channels: int,
                 stage: int,
                 student_dim: int,
                 teacher_dim: int,
                 num_classes: int,
                 data_format: str = 'channels_first') -> None:
        super().__init__()
        _check_stage(stage)
        self.stage = stage
        if data_format not in ('channels_first', 'channels_last'):
            raise ValueError(
                "OFAKDConvProjector data_format must be 'channels_first' "
                "(B, C, H, W) or 'channels_last' (B, H, W, C), got "
                f'{data_format!r}.')
        self.in_channels = in_channels
        self.data_format = data_format
        out_channels = max(student_dim, teacher_dim)
        if stage < 4:
            num_blocks = 4 - stage
            widths = [in_channels * 2**i for i in range(num_blocks)]
            widths.append(out_channels)
            self.downsample = nn.Sequential(*[
                SeparableDownsample(widths[i], widths[i + 1])
                for i in range(num_blocks)
            ])
        else:
            self.downsample = nn.Conv2d(in_channels, out_channels, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_channels, num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """Apply the OFA-KD initialisation."""
        init_projector_weights(self)
        self._is_init = True

    def forward_train(self, feature: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W), or (B, H, W, C) if channels-last -> (B, K)."""
        if self.data_format == 'channels_last':
            feature = feature.permute(0, 3, 1, 2)
        if feature.dim() != 4 or feature.shape[1] != self.in_channels:
            raise ValueError(
                f'OFAKDConvProjector (stage {self.stage}) was built for '
                f'{self.in_channels}-channel {self.data_format} maps and got '
                f'a {tuple(feature.shape)} feature: the stage changed since '
                'the dry run at `input_size`; train at that size or set '
                '`input_size` of OFAKDDistill to the training image size.')
        x = self.pool(self.downsample(feature))
        return self.fc(x.flatten(1))


def merge_steps(grid: int, target: int = 7) -> int:
    """Number r = max(floor(log2(grid / target)), 0) of 2x2 patch-merging
    steps that bring a grid towards ``target``."""
    steps = 0
    while grid >= target * 2**(steps + 1):
        steps += 1
    return steps


@MODELS.register_module()
class OFAKDTokenProjector(BaseConnector):
    """OFA-KD exit branch for a token sequence (B, m + N, E) -> logits.

    ``r = max(floor(log2(g / 7)), 0)`` patch-merging steps (2x2 concat ->
    LayerNorm -> Linear without bias -> GELU; E -> d_S, then d_S -> d_S; no
    activation after the last step when r >= 2), then ``max(4 - k, 1)``
    pre-norm transformer blocks of width d_S (4 heads, MLP ratio 4, qkv
    without bias), then the first extra token (or the token mean) and
    ``Linear(d_S, num_classes)``. The ``m`` extra (class/distillation) tokens
    are set aside while merging. Unlike the feature-map projector, the
    teacher's width plays no part here.

    Args:
        embed_dim (int): Token width E at this stage.
        grid_size (int | tuple[int, int]): Patch grid (g or (h, w)), N = h*w.
        stage (int): Stage index k, 1..4.
        student_dim (int): Final feature width d_S of the student.
        num_classes (int): Number of classes K.
        num_extra_tokens (int): m, tokens in front of the patches.
            Defaults to 0.
        num_heads (int): Attention heads of the blocks. Defaults to 4.
        mlp_ratio (float): MLP hidden width / d_S. Defaults to 4.

    The weights get OFA-KD's initialisation (:func:`init_projector_weights`)
    on construction; there is no ``init_cfg``. Inputs are (B, m + N, E)
    tensors, or Swin-style ``(tokens, (h, w))`` tuples; a token count or grid
    other than the one built for raises ``ValueError`` (the projector would
    not be the paper's).
    """

    def __init__(self,
                 embed_dim: int,
                 grid_size: GridSize,
                 stage: int,
                 student_dim: int,
                 num_classes: int,
                 num_extra_tokens: int = 0,
                 num_heads: int = 4,
                 mlp_ratio: float = 4.) -> None:
        super().__init__()
        _check_stage(stage)
        self.stage = stage
        self.grid_size = self._as_hw(grid_size)
        self.num_extra_tokens = num_extra_tokens
        num_merges = merge_steps(min(self.grid_size))

        self.mergers = nn.ModuleList()
        self.merge_acts = nn.ModuleList()
        for i in range(num_merges):
            self.mergers.append(
                PatchMerging(embed_dim if i == 0 else student_dim,
                             student_dim))
            last_of_several = num_merges >= 2 and i == num_merges - 1
            self.merge_acts.append(
                nn.Identity() if last_of_several else nn.GELU())
        # Only for widths the paper's models never have: a token that does not
        # pass a merger still needs width d_S.
        needs_proj = embed_dim != student_dim
        self.input_proj = nn.Linear(embed_dim, student_dim) \
            if needs_proj and num_merges == 0 else None
        self.extra_token_proj = nn.Linear(embed_dim, student_dim) \
            if needs_proj and num_merges > 0 and num_extra_tokens else None

        self.blocks = nn.Sequential(*[
            TransformerEncoderLayer(
                student_dim,
                num_heads,
                int(student_dim * mlp_ratio),
                qkv_bias=False) for _ in range(max(4 - stage, 1))
        ])
        self.fc = nn.Linear(student_dim, num_classes)
        self.init_weights()

    @staticmethod
    def _as_hw(grid_size: GridSize) -> Tuple[int, int]:
        if isinstance(grid_size, int):
            return grid_size, grid_size
        return int(grid_size[0]), int(grid_size[1])

    def init_weights(self) -> None:
        """Apply the OFA-KD initialisation."""
        init_projector_weights(self)
        self._is_init = True

    def forward_train(
        self, feature: Union[torch.Tensor, Tuple[torch.Tensor, Sequence[int]]]
    ) -> torch.Tensor:
        """(B, m + N, E) tokens, or ``(tokens, (h, w))`` -> (B, K)."""
        hw = self.grid_size
        if isinstance(feature, (tuple, list)):
            feature, hw = feature[0], tuple(int(s) for s in feature[1])
        m = self.num_extra_tokens
        # Shapes are Python ints: this check costs no device sync.
        if hw != self.grid_size or feature.shape[1] != m + hw[0] * hw[1]:
            raise ValueError(
                f'OFAKDTokenProjector (stage {self.stage}) was built for '
                f'{m} extra + {self.grid_size[0]}x{self.grid_size[1]} patch '
                f'tokens and got {feature.shape[1]} tokens (grid '
                f'{hw[0]}x{hw[1]}): its patch merging depends on the grid, '
                'so train at the image size of the dry run or set '
                '`input_size` of OFAKDDistill to the training image size.')
        extra, x = feature[:, :m], feature[:, m:]
        for merger, act in zip(self.mergers, self.merge_acts):
            x, hw = merger(x, hw)
            x = act(x)
        if self.extra_token_proj is not None:
            extra = self.extra_token_proj(extra)
        x = torch.cat([extra, x], dim=1) if m else x
        if self.input_proj is not None:
            x = self.input_proj(x)
        x = self.blocks(x)
        x = x[:, 0] if m else x.mean(dim=1)
        return self.fc(x)
