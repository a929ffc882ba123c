# in1k_cnn_8xb64-100e.py evaluated with MobileNetV2's timm test transform.
_base_ = [
    '../datasets/imagenet_bs64_bicubic-test.py',
    '../schedules/sgd_step_100e_bs512.py',
    '../default_runtime.py',
]
