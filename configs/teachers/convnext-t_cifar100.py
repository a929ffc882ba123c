# ConvNeXt-T CIFAR-100 teacher (224 px), fine-tuned from
# the ImageNet-1K checkpoint of configs/teachers/convnext-t_in1k.py.
# The paper does not give its fine-tuning recipe; this one reuses the
# CIFAR-100 ViT/MLP student recipe.
#   bash tools/dist_train.sh configs/teachers/convnext-t_cifar100.py 8
# then copy the best checkpoint of work_dirs/convnext-t_cifar100/ to
#   checkpoints/convnext-t_cifar100.pth
# Evaluate it:
#   python tools/test.py configs/teachers/convnext-t_cifar100.py \
#       checkpoints/convnext-t_cifar100.pth
_base_ = '../_base_/recipes/cifar100_vit_8xb128-300e.py'

model = _base_.convnext_t
model.backbone.init_cfg = dict(
    type='Pretrained', checkpoint='checkpoints/convnext-t_in1k.pth',
    prefix='backbone.')
