# MLP-Mixer-B/16 ImageNet-1K teacher.
# Weights: the file the official OFA-KD code loads, timm 0.6.5's default
# for `mixer_b16_224` (Google's ImageNet-21k -> 1k weights ported by timm;
# timm's current tag `.goog_in21k_ft_in1k`):
#   https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-vitjx/jx_mixer_b16_224-76587d61.pth  # noqa: E501
# Expected top-1: 76.60 (timm's results table, 224 px, crop 0.875, bicubic,
# the test transform of this config). Its inputs are normalised with
# mean = std = 0.5 (the model config's `data_preprocessor`).
# Convert it to checkpoints/mixer-b16_in1k.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model mixer-b16 \
#       jx_mixer_b16_224-76587d61.pth checkpoints/mixer-b16_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/mixer-b16_in1k.py \
#       checkpoints/mixer-b16_in1k.pth
# Second option, the same Google weights converted by mmpretrain:
# `mlp-mixer-base-p16_3rdparty_64xb64_in1k` (76.68), its `Weights` URL saved
# to the same path.
_base_ = [
    '../_base_/models/mixer-b16_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e_crop0.875-test.py',
]
custom_hooks = []  # evaluation only: no EMA
