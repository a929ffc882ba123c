# Swin-N, the paper's small Swin student (the official code's
# `swin_nano_patch4_window7_224`: embed 64, depths 2-2-2-2, heads 2-4-8-16,
# final width 512), for ImageNet-1K. No drop path: the official ImageNet
# ViT/MLP recipe sets `drop_path: 0` (timm's Swin default would be 0.1).
_base_ = './swin-t_in1k.py'

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=64,
            depths=[2, 2, 2, 2],
            num_heads=[2, 4, 8, 16]),
        drop_path_rate=0.),
    head=dict(in_channels=512))
