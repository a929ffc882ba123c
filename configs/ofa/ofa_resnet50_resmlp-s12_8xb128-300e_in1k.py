# eps 1.0, the official default (`--ofa-eps 1`): no value is published for
# this pair (the paper's values lie in [1.0, 1.5]).
_base_ = [
    '../_base_/recipes/in1k_vit-distill_8xb128-300e_crop0.875-test.py',
    '../_base_/algorithms/ofa.py',
]
# See configs/teachers/resnet50_in1k.py.
teacher_ckpt = 'checkpoints/resnet50_in1k.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/resmlp-s12_in1k.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/resnet50_in1k.py'),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(eps=1.0))
