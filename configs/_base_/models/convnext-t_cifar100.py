# ConvNeXt-T for CIFAR-100 upsampled to 224 px (100-class head), the
# authors' fine-tuned teacher (see configs/teachers/convnext-t_cifar100.py).
_base_ = './convnext-t_in1k.py'

model = dict(head=dict(num_classes=100))
