# DeiT-T ImageNet-1K teacher.
# Weights: the file the official OFA-KD code loads (named by its README;
# timm 0.6.5's default for `deit_tiny_patch16_224`, timm's current tag
# `.fb_in1k`):
#   https://dl.fbaipublicfiles.com/deit/deit_tiny_patch16_224-a1311bcf.pth
# Expected top-1: 72.17 (timm's results table, 224 px, crop 0.9, bicubic,
# the test transform of this config).
# Convert it to checkpoints/deit-t_in1k.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model deit-t \
#       deit_tiny_patch16_224-a1311bcf.pth checkpoints/deit-t_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/deit-t_in1k.py \
#       checkpoints/deit-t_in1k.pth
# Second option, a different model (not the paper's teacher): mmpretrain's
# `deit-tiny_4xb256_in1k` (74.50), its `Weights` URL saved to the same path.
_base_ = [
    '../_base_/models/deit-t_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e.py',
]
custom_hooks = []  # evaluation only: no EMA
