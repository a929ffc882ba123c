# Swin-T ImageNet-1K teacher.
# Weights: the file the official OFA-KD code loads, timm 0.6.5's default
# for `swin_tiny_patch4_window7_224` (Microsoft's release; timm's current
# tag `.ms_in1k`):
#   https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth  # noqa: E501
# Expected top-1: 81.38 (timm's results table, 224 px, crop 0.9, bicubic,
# the test transform of this config; Liu et al., 2021: 81.2).
# Convert it to checkpoints/swin-t_in1k.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model swin-t \
#       swin_tiny_patch4_window7_224.pth checkpoints/swin-t_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/swin-t_in1k.py \
#       checkpoints/swin-t_in1k.pth
# Second option, a different model (not the paper's teacher): mmpretrain's
# `swin-tiny_16xb64_in1k` (81.18), its `Weights` URL saved to the same path.
_base_ = [
    '../_base_/models/swin-t_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e.py',
]
custom_hooks = []  # evaluation only: no EMA
