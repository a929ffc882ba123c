# ResNet-34 for ImageNet-1K (timm `resnet34`): the teacher of the homogeneous
# ResNet34 -> ResNet18 pair.
_base_ = './resnet18_in1k.py'

model = dict(backbone=dict(depth=34))
