# BEiT v2-B ImageNet-1K teacher (of CycleMLP-B3).
# Weights: not named by the official OFA-KD code (its model
# `beitv2_base_patch16_224` has no default weights in timm 0.6.5). We
# document timm's default tag for that name,
# `beitv2_base_patch16_224.in1k_ft_in22k_in1k` (Microsoft's
# beitv2_base_patch16_224_pt1k_ft21kto1k.pth), as an assumption: save
# `timm.create_model(tag, pretrained=True).state_dict()` (timm >= 0.9) as
# beitv2_base_patch16_224.pth.
# Expected top-1: 86.47 (timm's results table, 224 px, crop 0.9, bicubic,
# the test transform of this config; `.in1k_ft_in1k`: 85.59).
# Convert it to checkpoints/beitv2-b_in1k.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model beitv2-b \
#       beitv2_base_patch16_224.pth checkpoints/beitv2-b_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/beitv2-b_in1k.py \
#       checkpoints/beitv2-b_in1k.pth
# Second option, the same Microsoft weights converted by mmpretrain:
# `beit-base-p16_beitv2-in21k-pre_3rdparty_in1k` (86.47), its `Weights` URL
# saved to the same path.
_base_ = [
    '../_base_/models/beitv2-b_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e.py',
]
custom_hooks = []  # evaluation only: no EMA
