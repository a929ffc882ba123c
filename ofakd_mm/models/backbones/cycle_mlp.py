from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule, ModuleList, Sequential
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS


class CycleFC(nn.Linear):
    """Cycle fully-connected layer of CycleMLP.

    Channel ``c`` is read at an offset ``(c + k // 2) % k - k // 2`` along one
    spatial axis (zero outside the map), then a channel-mixing linear layer
    is applied. The paper implements this as a deformable 1x1 convolution
    with those fixed integer offsets; a gather gives the same result without
    bilinear sampling.

    Args:
        in_channels (int): Input channels C_in.
        out_channels (int): Output channels C_out.
        kernel_size (int): Number of distinct offsets k (the pseudo-kernel
            size of the paper). Defaults to 3.
        dim (int): Spatial axis of a (B, H, W, C) input that is shifted:
            1 for H, 2 for W. Defaults to 2.
        bias (bool): Whether the linear layer has a bias. Defaults to True.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 dim: int = 2,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, bias=bias)
        if dim not in (1, 2):
            raise ValueError(f'CycleFC shifts axis 1 (H) or 2 (W) of a '
                             f'(B, H, W, C) input, got dim={dim}.')
        self.kernel_size = kernel_size
        self.dim = dim
        channels = torch.arange(in_channels)
        offsets = (channels + kernel_size // 2) % kernel_size \
            - kernel_size // 2
        self.register_buffer('offsets', offsets, persistent=False)

    def shift(self, x: torch.Tensor) -> torch.Tensor:
        """Read channel ``c`` at position ``p + offsets[c]`` along ``dim``.

        Args:
            x (Tensor): (B, H, W, C_in).

        Returns:
            Tensor: (B, H, W, C_in), zero where the read falls outside.
        """
        pad = self.kernel_size // 2
        length = x.shape[self.dim]
        padding = [0, 0, pad, pad] if self.dim == 2 else [0, 0, 0, 0, pad, pad]
        padded = F.pad(x, padding)
        # index[p, c] = p + pad + offsets[c], broadcast over the other axes.
        index = (torch.arange(length, device=x.device)[:, None] + pad +
                 self.offsets[None, :])
        index_shape = [1, 1, 1, x.shape[-1]]
        index_shape[self.dim] = length
        index = index.view(index_shape).expand(*x.shape)
        return padded.gather(self.dim, index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, H, W, C_in).

        Returns:
            Tensor: (B, H, W, C_out).
        """
        return F.linear(self.shift(x), self.weight, self.bias)


class CycleTokenMixer(BaseModule):
    """Spatial mixing of a CycleMLP block: a plain channel FC and two cycle
    FCs (along W and along H) are summed with per-channel weights predicted
    from their pooled sum, then projected.

    Args:
        embed_dims (int): Channels C.
        qkv_bias (bool): Whether the plain channel FC has a bias.
            Defaults to False.
        proj_drop (float): Dropout after the projection. Defaults to 0.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 qkv_bias: bool = False,
                 proj_drop: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp_c = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        # Names follow the paper's code: sfc_h has a 1x3 pseudo-kernel, which
        # shifts along the width.
        self.sfc_h = CycleFC(embed_dims, embed_dims, 3, dim=2)
        self.sfc_w = CycleFC(embed_dims, embed_dims, 3, dim=1)
        self.reweight = Sequential(
            nn.Linear(embed_dims, embed_dims // 4), nn.GELU(),
            nn.Linear(embed_dims // 4, embed_dims * 3))
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, H, W, C).

        Returns:
            Tensor: (B, H, W, C).
        """
        B, _, _, C = x.shape
        h = self.sfc_h(x)
        w = self.sfc_w(x)
        c = self.mlp_c(x)
        a = (h + w + c).mean(dim=(1, 2))
        # (3, B, 1, 1, C): softmax over the three branches.
        a = self.reweight(a).reshape(B, C, 3).permute(2, 0, 1).softmax(dim=0)
        a = a[:, :, None, None, :]
        x = h * a[0] + w * a[1] + c * a[2]
        return self.proj_drop(self.proj(x))


class CycleBlock(BaseModule):
    """CycleMLP block: pre-norm token mixer and channel MLP, both residual.

    Args:
        embed_dims (int): Channels C.
        mlp_ratio (float): Hidden width ratio of the channel MLP.
        drop_rate (float): Dropout rate. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        act_cfg (dict): Activation of the channel MLP.
            Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Normalization layer. Defaults to ``dict(type='LN')``.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 mlp_ratio: float,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.token_mix = CycleTokenMixer(embed_dims, proj_drop=drop_rate)
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate))
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, H, W, C).

        Returns:
            Tensor: (B, H, W, C).
        """
        x = x + self.drop_path(self.token_mix(self.norm1(x)))
        return self.ffn(self.norm2(x), identity=x)


class CycleStage(BaseModule):
    """One resolution stage: an optional stride-2 3x3 conv that changes the
    width, then CycleMLP blocks on channels-last tokens.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Channels of the stage.
        depth (int): Number of blocks.
        mlp_ratio (float): Hidden width ratio of the channel MLPs.
        downsample (bool): Whether to start with the stride-2 conv.
        drop_path_rates (Sequence[float]): Stochastic depth rate per block.
        drop_rate (float): Dropout rate. Defaults to 0.
        act_cfg (dict): Activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Normalization. Defaults to ``dict(type='LN')``.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 depth: int,
                 mlp_ratio: float,
                 downsample: bool,
                 drop_path_rates: Sequence[float],
                 drop_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if downsample:
            self.downsample = nn.Conv2d(
                in_channels, embed_dims, 3, stride=2, padding=1)
        else:
            self.downsample = nn.Identity()
        self.blocks = Sequential(*[
            CycleBlock(
                embed_dims,
                mlp_ratio,
                drop_rate=drop_rate,
                drop_path_rate=drop_path_rates[i],
                act_cfg=act_cfg,
                norm_cfg=norm_cfg) for i in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C_in, H, W).

        Returns:
            Tensor: (B, C, H', W'), H' = H / 2 when downsampling.
        """
        x = self.downsample(x)
        x = self.blocks(x.permute(0, 2, 3, 1))
        return x.permute(0, 3, 1, 2).contiguous()


@MODELS.register_module()
class CycleMLP(BaseBackbone):
    """CycleMLP backbone.

    A PyTorch implementation of `CycleMLP: A MLP-like Architecture for Dense
    Prediction <https://arxiv.org/abs/2107.10224>`_. Four stages at strides
    4, 8, 16 and 32 (a 7x7 stride-4 patch embedding, then stride-2 3x3 convs).

    Args:
        arch (str | dict): CycleMLP architecture. If use string, choose from
            'b1', 'b2', 'b3', 'b4' and 'b5'. If use dict, it should have below
            keys:

            - **embed_dims** (list[int]): Channels of each stage.
            - **depths** (list[int]): Number of blocks of each stage.
            - **mlp_ratios** (list[float]): Channel-MLP ratio of each stage.

            Defaults to 'b1'.
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence | int): Output from which stages.
            Defaults to 3, the last stage.
        drop_rate (float): Dropout rate. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate, increasing linearly
            over all blocks up to this value. Defaults to 0.
        act_cfg (dict): Activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Normalization of the blocks and of the outputs.
            Defaults to ``dict(type='LN')``.
        init_cfg (dict | list[dict], optional): Initialization config dict.
            Defaults to truncated normal (std 0.02, bias 0) for linear and
            cycle FC layers, as in the paper.

    Returns (forward):
        tuple[Tensor]: For each out index a (B, C, H, W) map, normalised by
        its own LayerNorm (``norm{i}``; ``norm3`` is the paper's final norm).
    """

    arch_zoo: Dict[str, dict] = {
        **dict.fromkeys(['b1'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [2, 2, 4, 2],
            'mlp_ratios': [4, 4, 4, 4]}),
        **dict.fromkeys(['b2'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [2, 3, 10, 3],
            'mlp_ratios': [4, 4, 4, 4]}),
        **dict.fromkeys(['b3'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [3, 4, 18, 3],
            'mlp_ratios': [8, 8, 4, 4]}),
        **dict.fromkeys(['b4'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [3, 8, 27, 3],
            'mlp_ratios': [8, 8, 4, 4]}),
        **dict.fromkeys(['b5'], {
            'embed_dims': [96, 192, 384, 768],
            'depths': [3, 4, 24, 3],
            'mlp_ratios': [4, 4, 4, 4]}),
    }  # yapf: disable

    def __init__(self,
                 arch: Union[str, dict] = 'b1',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg: Optional[Union[dict, list]] = [
                     dict(type='TruncNormal', layer='Linear', std=.02,
                          bias=0.),
                     dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
                 ]) -> None:
        super().__init__(init_cfg)

        if isinstance(arch, str):
            arch = arch.lower()
            if arch not in self.arch_zoo:
                raise KeyError(f'CycleMLP arch {arch!r} is not one of '
                               f'{sorted(self.arch_zoo)}; give one of them '
                               'or a dict.')
            self.arch_settings = self.arch_zoo[arch]
        else:
            essential_keys = {'embed_dims', 'depths', 'mlp_ratios'}
            if not isinstance(arch, dict) or set(arch) != essential_keys:
                raise KeyError(f'A custom CycleMLP arch needs a dict with '
                               f'keys {sorted(essential_keys)}, got {arch!r}.')
            self.arch_settings = arch

        self.embed_dims: List[int] = list(self.arch_settings['embed_dims'])
        depths: List[int] = list(self.arch_settings['depths'])
        mlp_ratios = self.arch_settings['mlp_ratios']
        self.num_stages = len(depths)

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        out_indices = list(out_indices)
        for i, index in enumerate(out_indices):
            if index < 0:
                out_indices[i] = self.num_stages + index
            if not 0 <= out_indices[i] < self.num_stages:
                raise ValueError(f'Invalid out_indices {index} for a '
                                 f'{self.num_stages}-stage CycleMLP.')
        self.out_indices = out_indices

        self.patch_embed = nn.Conv2d(
            in_channels, self.embed_dims[0], 7, stride=4, padding=2)

        total = sum(depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = ModuleList()
        for i, depth in enumerate(depths):
            first = sum(depths[:i])
            self.stages.append(
                CycleStage(
                    in_channels=self.embed_dims[max(i - 1, 0)],
                    embed_dims=self.embed_dims[i],
                    depth=depth,
                    mlp_ratio=mlp_ratios[i],
                    downsample=i > 0,
                    drop_path_rates=dpr[first:first + depth],
                    drop_rate=drop_rate,
                    act_cfg=act_cfg,
                    norm_cfg=norm_cfg))

        for i in self.out_indices:
            self.add_module(f'norm{i}',
                            build_norm_layer(norm_cfg, self.embed_dims[i])[1])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args:
            x (Tensor): Images (B, 3, H, W), e.g. 224 x 224.

        Returns:
            tuple[Tensor]: (B, C_i, H / 2^(i+2), W / 2^(i+2)) per out index i.
        """
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                out = norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                outs.append(out.contiguous())
        return tuple(outs)
