# ResNet-50 ImageNet-1K teacher.
# Weights: the file the official OFA-KD code loads, timm 0.6.5's default
# for `resnet50`, the ResNet strikes back A1 weights (timm's current tag
# `resnet50.a1_in1k` holds the same):
#   https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-rsb-weights/resnet50_a1_0-14fe96d1.pth  # noqa: E501
# Expected top-1: 80.4 (Wightman et al., 2021, at 224 px, crop 0.95, the
# test transform below).
# Convert it to checkpoints/resnet50_in1k.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model resnet50 \
#       resnet50_a1_0-14fe96d1.pth checkpoints/resnet50_in1k.pth
# and evaluate it:
#   python tools/test.py configs/teachers/resnet50_in1k.py \
#       checkpoints/resnet50_in1k.pth
# Second option, a different model (not the paper's teacher): mmpretrain's
# `resnet50_8xb32_in1k` (76.55), its `Weights` URL saved to the same path.
_base_ = [
    '../_base_/models/resnet50_in1k.py',
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
]
# timm 0.6.5's test transform of these weights: crop 0.95, bicubic.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=235,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
