# cifar100_vit_8xb128-300e.py evaluated with ResMLP-S12's crop.
_base_ = [
    '../datasets/cifar100_bs128_224px_randaug_crop0.875-test.py',
    '../schedules/adamw_cos_300e_bs1024.py',
    '../default_runtime.py',
]
