# The ViT / MLP recipe on ImageNet-1K: as adamw_cos_300e_bs1024.py, with the
# cosine going down to 1e-6 (the official code's ImageNet setting).
_base_ = './adamw_cos_300e_bs1024.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=20),
]
