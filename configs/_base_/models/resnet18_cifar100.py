# ResNet-18 for CIFAR-100 upsampled to 224 px: the ImageNet network with a
# 100-class head (the stem is unchanged, as in the paper's timm models).
_base_ = './resnet18_in1k.py'

model = dict(head=dict(num_classes=100, topk=(1, )))
