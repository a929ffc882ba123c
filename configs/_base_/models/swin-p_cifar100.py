# Swin-P, the paper's smallest Swin student (the official code's
# `swin_pico_patch4_window7_224`: embed 48, depths 2-2-2-2, heads 2-4-8-16,
# final width 384), for CIFAR-100 upsampled to 224 px. Drop path 0.1: the
# official CIFAR recipe leaves it to timm's Swin default.
_base_ = './swin-t_in1k.py'

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=48,
            depths=[2, 2, 2, 2],
            num_heads=[2, 4, 8, 16]),
        drop_path_rate=0.1),
    head=dict(num_classes=100, in_channels=384))
