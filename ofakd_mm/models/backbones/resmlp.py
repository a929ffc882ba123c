from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks.drop import build_dropout
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import LayerScale, to_2tuple
from mmpretrain.registry import MODELS


class Affine(nn.Module):
    """Per-channel affine map ``alpha * x + beta``, ResMLP's replacement for
    LayerNorm.

    Args:
        dim (int): Number of channels (last dimension of the input).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (..., dim).

        Returns:
            Tensor: same shape as ``x``.
        """
        return torch.addcmul(self.beta, self.alpha, x)


class ResMLPBlock(BaseModule):
    """ResMLP block: a linear layer across patches, then a per-patch MLP,
    each on an affine-normalised input, layer-scaled and residual.

    Args:
        num_tokens (int): Number of patch tokens N.
        embed_dims (int): Token width C.
        mlp_ratio (float): Hidden width of the channel MLP over C.
            Defaults to 4.
        layer_scale_init_value (float): Initial value of both layer scales.
            Defaults to 1e-4.
        drop_rate (float): Dropout after the channel MLP layers.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        act_cfg (dict): Activation of the channel MLP.
            Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Initialization config dict.
            Defaults to None.
    """

    def __init__(self,
                 num_tokens: int,
                 embed_dims: int,
                 mlp_ratio: float = 4.,
                 layer_scale_init_value: float = 1e-4,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm1 = Affine(embed_dims)
        self.token_mix = nn.Linear(num_tokens, num_tokens)
        self.gamma1 = LayerScale(embed_dims, layer_scale_init_value)
        self.drop_path = build_dropout(
            dict(type='DropPath', drop_prob=drop_path_rate))

        self.norm2 = Affine(embed_dims)
        self.channel_mix = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            act_cfg=act_cfg,
            layer_scale_init_value=layer_scale_init_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): Tokens (B, N, C).

        Returns:
            Tensor: Tokens (B, N, C).
        """
        mixed = self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.drop_path(self.gamma1(mixed))
        return self.channel_mix(self.norm2(x), identity=x)


@MODELS.register_module()
class ResMLP(BaseBackbone):
    """ResMLP backbone.

    A PyTorch implementation of `ResMLP: Feedforward networks for image
    classification with data-efficient training
    <https://arxiv.org/abs/2105.03404>`_. No class token: every block keeps
    (B, N, C) patch tokens.

    Args:
        arch (str | dict): ResMLP architecture. If use string, choose from
            's12', 's24', 's36' and 'b24'. If use dict, it should have below
            keys:

            - **embed_dims** (int): The dimensions of embedding.
            - **num_layers** (int): The number of ResMLP blocks.
            - **mlp_ratio** (float): Hidden width ratio of the channel MLP.
            - **layer_scale_init_value** (float): Initial layer scale.
            - **patch_size** (int, optional): The default patch size
              (16 if absent).

            Defaults to 's12'.
        img_size (int | tuple): The input image shape. Defaults to 224.
        patch_size (int, optional): The patch size in patch embedding.
            Defaults to None, the arch's size (16; 8 for 'b24', the paper's
            ResMLP-B24/8).
        out_indices (Sequence | int): Output from which blocks.
            Defaults to -1, means the last block.
        drop_rate (float): Dropout rate in the channel MLPs. Defaults to 0.
        drop_path_rate (float): Stochastic depth rate, the same for every
            block as in the paper. Defaults to 0.
        act_cfg (dict): The activation config of the channel MLPs.
            Defaults to ``dict(type='GELU')``.
        patch_cfg (dict): Configs of patch embedding. Defaults to an empty
            dict.
        init_cfg (dict | list[dict], optional): Initialization config dict.
            Defaults to truncated normal (std 0.02, bias 0) for linear layers,
            as in the paper.

    Returns (forward):
        tuple[Tensor]: For each out index a (B, C, N) tensor; the last block's
        output passes the final affine norm first.
    """

    arch_zoo: Dict[str, dict] = {
        **dict.fromkeys(
            ['s12'], {
                'embed_dims': 384,
                'num_layers': 12,
                'mlp_ratio': 4,
                'layer_scale_init_value': 0.1,
                'patch_size': 16,
            }),
        **dict.fromkeys(
            ['s24'], {
                'embed_dims': 384,
                'num_layers': 24,
                'mlp_ratio': 4,
                'layer_scale_init_value': 1e-5,
                'patch_size': 16,
            }),
        **dict.fromkeys(
            ['s36'], {
                'embed_dims': 384,
                'num_layers': 36,
                'mlp_ratio': 4,
                'layer_scale_init_value': 1e-6,
                'patch_size': 16,
            }),
        **dict.fromkeys(
            ['b24'], {
                'embed_dims': 768,
                'num_layers': 24,
                'mlp_ratio': 4,
                'layer_scale_init_value': 1e-6,
                'patch_size': 8,
            }),
    }
    num_extra_tokens = 0  # no class token: all N tokens are patches

    def __init__(self,
                 arch: Union[str, dict] = 's12',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: Optional[int] = None,
                 out_indices: Union[int, Sequence[int]] = -1,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 patch_cfg: dict = dict(),
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='TruncNormal', layer='Linear', std=.02, bias=0.)
                 ) -> None:
        super().__init__(init_cfg)

        if isinstance(arch, str):
            arch = arch.lower()
            if arch not in self.arch_zoo:
                raise KeyError(f'ResMLP arch {arch!r} is not one of '
                               f'{sorted(self.arch_zoo)}; give one of them '
                               'or a dict.')
            self.arch_settings = self.arch_zoo[arch]
        else:
            essential_keys = {
                'embed_dims', 'num_layers', 'mlp_ratio',
                'layer_scale_init_value'
            }
            if (not isinstance(arch, dict)
                    or not essential_keys <= set(arch) <= essential_keys
                    | {'patch_size'}):
                raise KeyError(f'A custom ResMLP arch needs a dict with keys '
                               f'{sorted(essential_keys)} (and optionally '
                               f"'patch_size'), got {arch!r}.")
            self.arch_settings = {'patch_size': 16, **arch}

        self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        if patch_size is None:
            patch_size = self.arch_settings['patch_size']
        self.img_size = to_2tuple(img_size)

        _patch_cfg = dict(
            input_size=img_size,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size,
        )
        _patch_cfg.update(patch_cfg)
        self.patch_embed = PatchEmbed(**_patch_cfg)
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        out_indices = list(out_indices)
        for i, index in enumerate(out_indices):
            if index < 0:
                out_indices[i] = self.num_layers + index
            if not 0 <= out_indices[i] < self.num_layers:
                raise ValueError(f'Invalid out_indices {index} for a '
                                 f'{self.num_layers}-block ResMLP.')
        self.out_indices = out_indices

        self.layers = ModuleList()
        for _ in range(self.num_layers):
            self.layers.append(
                ResMLPBlock(
                    num_tokens=num_patches,
                    embed_dims=self.embed_dims,
                    mlp_ratio=self.arch_settings['mlp_ratio'],
                    layer_scale_init_value=self.
                    arch_settings['layer_scale_init_value'],
                    drop_rate=drop_rate,
                    drop_path_rate=drop_path_rate,
                    act_cfg=act_cfg))

        self.norm = Affine(self.embed_dims)

    def forward(self, x: torch.Tensor) -> tuple:
        """Args:
            x (Tensor): Images (B, 3, H, W) of size ``img_size``.

        Returns:
            tuple[Tensor]: (B, C, N) per out index.
        """
        if x.shape[2:] != self.img_size:
            raise ValueError(
                f'ResMLP mixes a fixed number of patches: input size '
                f'{tuple(x.shape[2:])} differs from img_size {self.img_size}.')
        x, _ = self.patch_embed(x)

        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(x.transpose(1, 2))
        return tuple(outs)
