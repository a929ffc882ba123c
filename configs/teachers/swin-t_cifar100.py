# Swin-T CIFAR-100 teacher (224 px).
# Weights: the authors' fine-tuned teacher, released with the official code
# (timm 0.6.5 state dict, CIFAR-100 normalisation):
#   https://github.com/Hao840/OFAKD/releases/tag/checkpoint-cifar100
# Expected top-1: 89.26 (Hao et al., NeurIPS 2023), with the official
# CIFAR-100 test transform of this config (bilinear, crop 0.9: 248 px).
# Save the Swin-T file of that release as
# swin-t_cifar100_release.pth, convert it to
# checkpoints/swin-t_cifar100.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model swin-t \
#       swin-t_cifar100_release.pth checkpoints/swin-t_cifar100.pth
# then evaluate it:
#   python tools/test.py configs/teachers/swin-t_cifar100.py \
#       checkpoints/swin-t_cifar100.pth
# Second option, a teacher of your own (not the paper's): fine-tune the
# ImageNet-1K checkpoint of configs/teachers/swin-t_in1k.py with this
# config, whose training settings are the CIFAR-100 ViT/MLP student recipe
# (the authors' fine-tuning recipe is not published; they suggest the
# student recipe with a 10-20x lower lr, github.com/Hao840/OFAKD issue
# #14):
#   bash tools/dist_train.sh configs/teachers/swin-t_cifar100.py 8
# and copy the best checkpoint of work_dirs/swin-t_cifar100/ to
# checkpoints/swin-t_cifar100.pth.
_base_ = [
    '../_base_/models/swin-t_cifar100.py',
    '../_base_/recipes/cifar100_vit_8xb128-300e.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/swin-t_in1k.pth',
            prefix='backbone.')))
