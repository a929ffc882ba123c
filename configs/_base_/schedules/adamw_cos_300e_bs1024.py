# ViT / MLP recipe: AdamW lr 5e-4 at global batch 1024 (mmpretrain's Swin
# schedule scales DeiT's 5e-4 / 512 to 1e-3; the paper keeps 5e-4), wd 0.05,
# 20 warm-up epochs, cosine to 1e-5 (CIFAR-100), 300 epochs, gradient
# clipping at 5.
_base_ = 'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py'

optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    clip_grad=dict(max_norm=5.0))
