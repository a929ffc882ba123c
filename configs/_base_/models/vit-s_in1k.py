# The paper's ViT-S (timm `vit_small_patch16_224`: 384 wide, 12 blocks, 6
# heads; mmpretrain's `deit-small`, not its 768-wide 'small'). Its ImageNet
# weights (timm's AugReg ImageNet-21k -> 1k) expect inputs normalised with
# mean = std = 0.5 (127.5), which the teacher gets whatever the student's
# normalisation (see `teacher_data_preprocessor` of the distillation
# algorithms).
_base_ = './deit-t_in1k.py'

model = dict(
    backbone=dict(arch='deit-small'),
    head=dict(in_channels=384),
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True))
