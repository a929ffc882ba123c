"""Swin-N and Swin-P, the small Swin students of OFA-KD (spec section 8),
as arch names of mmpretrain's ``SwinTransformer``.

``SwinTransformer`` only accepts string archs listed in its class attribute
``arch_zoo``; adding them there (rather than subclassing) keeps the backbone
type, its checkpoint hooks and the stage table entry of ``SwinTransformer``,
so a config just says ``dict(type='SwinTransformer', arch='nano')``.
"""
from mmpretrain.models.backbones import SwinTransformer

SWIN_OFAKD_ARCHS = {
    **dict.fromkeys(['n', 'nano'],
                    {'embed_dims': 64,
                     'depths':     [2, 2, 2, 2],
                     'num_heads':  [2, 4, 8, 16]}),
    **dict.fromkeys(['p', 'pico'],
                    {'embed_dims': 48,
                     'depths':     [2, 2, 2, 2],
                     'num_heads':  [2, 4, 8, 16]}),
}  # yapf: disable

for _name, _settings in SWIN_OFAKD_ARCHS.items():
    _known = SwinTransformer.arch_zoo.setdefault(_name, _settings)
    if _known != _settings:
        raise RuntimeError(
            f'mmpretrain SwinTransformer already defines arch {_name!r} as '
            f'{_known}, not the OFA-KD setting {_settings}.')
