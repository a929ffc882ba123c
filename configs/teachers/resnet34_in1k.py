# ResNet34 ImageNet-1K teacher. Its checkpoint goes to
#   checkpoints/resnet34_in1k.pth
# Get it by converting timm's `resnet34` weights:
#   python tools/model_converters/timm_to_mmpretrain.py --model resnet34 \
#       resnet34.pth checkpoints/resnet34_in1k.pth
# or save there the weights of mmpretrain's model-zoo entry
#   resnet34_8xb32_in1k
# (its `Weights` URL in mmpretrain's configs/*/metafile.yml).
# Evaluate it:
#   python tools/test.py configs/teachers/resnet34_in1k.py \
#       checkpoints/resnet34_in1k.pth
# The training settings only complete the config; the teacher is not
# trained here.
_base_ = '../_base_/recipes/in1k_cnn_8xb64-100e.py'

model = _base_.resnet34
