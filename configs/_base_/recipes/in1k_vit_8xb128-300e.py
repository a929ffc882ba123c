# The official ImageNet-1K recipe of the ViT / MLP students (DeiT-T, Swin-N,
# ResMLP-S12, CycleMLP-B3): configs/imagenet/vit_mlp.yaml on 8 GPUs, with an
# EMA of the weights (decay 0.99996) as `model_ema`. For a model trained on
# its own; distillation configs use in1k_vit-distill_8xb128-300e.py.
# Evaluation with the timm test transform of DeiT-T, Swin-N and CycleMLP-B3.
_base_ = [
    '../datasets/imagenet_bs128_randaug.py',
    '../schedules/adamw_cos_300e_bs1024_in1k.py',
    '../default_runtime.py',
]
custom_hooks = [
    dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL'),
]
