# ResNet-50 for ImageNet-1K (timm `resnet50`), a teacher of the paper.
_base_ = './resnet18_in1k.py'

model = dict(backbone=dict(depth=50), head=dict(in_channels=2048))
