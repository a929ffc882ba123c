# The official ImageNet-1K ViT / MLP schedule (configs/imagenet/vit_mlp.yaml):
# adamw_cos_300e_bs1024.py with the cosine going down to 1e-6.
_base_ = './adamw_cos_300e_bs1024.py'

param_scheduler = [
    # `end=21`: mmengine's LinearLR reaches the full lr at step end - 1.
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=21),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0,
         end=300),
]
