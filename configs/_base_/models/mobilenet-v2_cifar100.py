# MobileNetV2 for CIFAR-100 upsampled to 224 px (100-class head).
_base_ = './mobilenet-v2_in1k.py'

model = dict(head=dict(num_classes=100, topk=(1, )))
