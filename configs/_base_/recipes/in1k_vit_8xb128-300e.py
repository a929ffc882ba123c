# The paper's ImageNet-1K recipe for ViT / MLP students (DeiT-T, Swin-N,
# ResMLP-S12): label smoothing 0.1 (in the heads), RandAugment, erasing,
# mixup / cutmix, AdamW with gradient clipping, EMA of the weights 0.99996.
_base_ = [
    '../models/imagenet_nets.py',
    '../datasets/imagenet_bs128_randaug.py',
    '../schedules/adamw_cos_300e_bs1024_in1k.py',
    '../default_runtime.py',
]
custom_hooks = [
    dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL'),
]
