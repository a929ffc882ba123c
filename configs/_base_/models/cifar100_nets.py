# The classifiers of the CIFAR-100 pairs: those of imagenet_nets.py with a
# 100-class head (images are upsampled to 224 px, so the stems are unchanged).
_base_ = './imagenet_nets.py'

resnet18 = dict(head=dict(num_classes=100, topk=(1, )))
resnet34 = dict(head=dict(num_classes=100, topk=(1, )))
resnet50 = dict(head=dict(num_classes=100, topk=(1, )))
mobilenet_v2 = dict(head=dict(num_classes=100, topk=(1, )))
convnext_t = dict(head=dict(num_classes=100))
deit_t = dict(head=dict(num_classes=100))
vit_s = dict(head=dict(num_classes=100))
beitv2_b = dict(head=dict(num_classes=100))
swin_t = dict(head=dict(num_classes=100))
swin_n = dict(head=dict(num_classes=100))
swin_p = dict(head=dict(num_classes=100))
mixer_b16 = dict(head=dict(num_classes=100, topk=(1, )))
resmlp_s12 = dict(head=dict(num_classes=100))
cyclemlp_b3 = dict(head=dict(num_classes=100))
