# ResNet-34 ImageNet-1K teacher (the ResNet34 -> ResNet18 pair).
# Weights: the file the official OFA-KD code loads, timm 0.6.5's default
# for `resnet34` (timm's current tag `resnet34.bt_in1k` holds the same):
#   https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/resnet34-43635321.pth  # noqa: E501
# Expected top-1: timm lists 76.48 at 288 px (crop 0.95); this config tests
# at 224 px with timm 0.6.5's transform for it (crop 0.875, bilinear), which
# gives less (no 224 px figure is published).
# Convert it to checkpoints/resnet34_in1k.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model resnet34 \
#       resnet34-43635321.pth checkpoints/resnet34_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/resnet34_in1k.py \
#       checkpoints/resnet34_in1k.pth
# Second option, a different model (not the paper's teacher): mmpretrain's
# `resnet34_8xb32_in1k` (73.62), its `Weights` URL saved to the same path.
_base_ = [
    '../_base_/models/resnet34_in1k.py',
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
]
