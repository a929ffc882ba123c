# in1k_vit_8xb128-300e.py evaluated with ResMLP-S12's timm test transform.
_base_ = [
    '../datasets/imagenet_bs128_randaug_crop0.875-test.py',
    '../schedules/adamw_cos_300e_bs1024_in1k.py',
    '../default_runtime.py',
]
custom_hooks = [
    dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL'),
]
