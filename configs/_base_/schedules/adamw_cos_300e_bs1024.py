# The official CIFAR-100 ViT / MLP schedule (configs/cifar/vit_mlp.yaml on
# timm 0.6.5): AdamW lr 5e-4 for a global batch of 1024 (not scaled with the
# batch, unlike mmpretrain's Swin schedule), weight decay 0.05 on weights
# only (never on biases or 1-D parameters), gradient norm clipped at 5, 300
# epochs; the lr changes once per epoch: linear warm-up from `warmup_lr`
# 5e-7 over epochs 0-19, and a cosine from 5e-4 to 1e-5 over epochs 0-300
# that timm starts at epoch 0 (not after the warm-up); here the two overlap
# during the warm-up, within 1% of timm's lr there and within 0.02% after.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=5e-4,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        flat_decay_mult=0.,
        # ResMLP's Affine scale and shift are (1, 1, C) in timm, so the
        # official code decays them; they are (C, ) here.
        custom_keys={
            '.alpha': dict(decay_mult=1.),
            '.beta': dict(decay_mult=1.),
        }))
param_scheduler = [
    # `end=21`: mmengine's LinearLR reaches the full lr at step end - 1.
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=21),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0,
         end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
