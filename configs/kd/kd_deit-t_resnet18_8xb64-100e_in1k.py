_base_ = [
    '../_base_/recipes/in1k_cnn_8xb64-100e.py',
    '../_base_/algorithms/kd.py',
]
# See configs/teachers/deit-t_in1k.py.
teacher_ckpt = 'checkpoints/deit-t_in1k.pth'

model = dict(
    architecture=dict(
        cfg_path='ofakd_mm::_base_/models/resnet18_in1k.py'),
    teacher=dict(
        cfg_path='ofakd_mm::_base_/models/deit-t_in1k.py'),
    teacher_ckpt=teacher_ckpt)
