# MobileNetV2 (width 1.0) for ImageNet-1K (timm `mobilenetv2_100`), a
# student of the paper.
_base_ = './resnet18_in1k.py'

model = dict(
    backbone=dict(_delete_=True, type='MobileNetV2', widen_factor=1.0),
    head=dict(in_channels=1280))
