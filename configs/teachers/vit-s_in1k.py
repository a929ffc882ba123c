# ViT-S ImageNet-1K model: the starting point of the ViT-S CIFAR-100 teacher
# (no ImageNet pair of the paper distills from it).
# Weights: timm 0.6.5's default for `vit_small_patch16_224`, Google's AugReg
# ImageNet-21k -> 1k weights, which timm 0.6.5 reads from a JAX .npz:
#   https://storage.googleapis.com/vit_models/augreg/S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224.npz  # noqa: E501
# timm's current tag `vit_small_patch16_224.augreg_in21k_ft_in1k` holds the
# same weights as a state dict: save
# `timm.create_model(tag, pretrained=True).state_dict()` (timm >= 0.9) as
# vit_small_patch16_224.pth.
# Expected top-1: 81.38 (timm's results table, 224 px, crop 0.9, bicubic).
# Its inputs are normalised with mean = std = 0.5 (the model config's
# `data_preprocessor`).
# Convert it to checkpoints/vit-s_in1k.pth:
#   python tools/model_converters/timm_to_mmpretrain.py --model vit-s \
#       vit_small_patch16_224.pth checkpoints/vit-s_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/vit-s_in1k.py \
#       checkpoints/vit-s_in1k.pth
# Second option, a different model: mmpretrain's `deit-small_4xb256_in1k`
# (80.69, ImageNet normalisation: drop the model's `data_preprocessor`).
_base_ = [
    '../_base_/models/vit-s_in1k.py',
    '../_base_/recipes/in1k_vit_8xb128-300e.py',
]
custom_hooks = []  # evaluation only: no EMA
