# The digits MLP student: an MLP-Mixer of 8 layers of width 64 (token MLP
# 32, channel MLP 128), patch 4 on the 16 px digits: 16 tokens, no class
# token. Its OFA-KD stages end after layers 2, 4, 6 and 8.
model = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(
        type='MlpMixer',
        arch=dict(
            embed_dims=64,
            num_layers=8,
            tokens_mlp_dims=32,
            channels_mlp_dims=128),
        img_size=16,
        patch_size=4,
        drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling', dim=1),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
