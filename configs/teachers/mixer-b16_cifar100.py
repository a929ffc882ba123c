# MLP-Mixer-B/16 CIFAR-100 teacher (224 px).
# Weights: the authors' fine-tuned teacher, released with the official code
# (timm 0.6.5 state dict, CIFAR-100 normalisation):
#   https://github.com/Hao840/OFAKD/releases/tag/checkpoint-cifar100
# Expected top-1: 87.62 (the release page, as quoted by a secondary
# source; not in the paper), with the official CIFAR-100 test transform
# of this config (bilinear, crop 0.875: 256 px).
# Save the MLP-Mixer-B/16 file of that release as
# mixer-b16_cifar100_release.pth, convert it to
# checkpoints/mixer-b16_cifar100.pth (the distillation configs'
# `teacher_ckpt`):
#   python tools/model_converters/timm_to_mmpretrain.py --model mixer-b16 \
#       mixer-b16_cifar100_release.pth checkpoints/mixer-b16_cifar100.pth
# then evaluate it:
#   python tools/test.py configs/teachers/mixer-b16_cifar100.py \
#       checkpoints/mixer-b16_cifar100.pth
# Second option, a teacher of your own (not the paper's): fine-tune the
# ImageNet-1K checkpoint of configs/teachers/mixer-b16_in1k.py with this
# config, whose training settings are the CIFAR-100 ViT/MLP student recipe
# (the authors' fine-tuning recipe is not published; they suggest the
# student recipe with a 10-20x lower lr, github.com/Hao840/OFAKD issue
# #14):
#   bash tools/dist_train.sh configs/teachers/mixer-b16_cifar100.py 8
# and copy the best checkpoint of work_dirs/mixer-b16_cifar100/ to
# checkpoints/mixer-b16_cifar100.pth.
_base_ = [
    '../_base_/models/mixer-b16_cifar100.py',
    '../_base_/recipes/cifar100_vit_8xb128-300e_crop0.875-test.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mixer-b16_in1k.pth',
            prefix='backbone.')))
