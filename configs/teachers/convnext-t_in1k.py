# ConvNeXt-T ImageNet-1K teacher.
# Weights: the file the official OFA-KD code loads, timm 0.6.5's default
# for `convnext_tiny` (Meta's release; timm's current tag `.fb_in1k`):
#   https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth
# Expected top-1: 82.1 (Liu et al., 2022, 224 px, crop 0.875, bicubic, the
# test transform of this config).
# Convert it (the original ConvNeXt layout is accepted) to
# checkpoints/convnext-t_in1k.pth (the distillation configs' `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model convnext-t \
#       convnext_tiny_1k_224_ema.pth checkpoints/convnext-t_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/convnext-t_in1k.py \
#       checkpoints/convnext-t_in1k.pth
# Second option, a different model (not the paper's teacher): mmpretrain's
# `convnext-tiny_32xb128_in1k` (82.14, its own retraining), its `Weights`
# URL saved to the same path.
_base_ = [
    '../_base_/models/convnext-t_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e_crop0.875-test.py',
]
custom_hooks = []  # evaluation only: no EMA
