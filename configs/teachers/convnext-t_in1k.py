# ConvNeXt-T ImageNet-1K teacher. Its checkpoint goes to
#   checkpoints/convnext-t_in1k.pth
# Get it by converting timm's `convnext_tiny` weights:
#   python tools/model_converters/timm_to_mmpretrain.py --model convnext-t \
#       convnext_tiny.pth checkpoints/convnext-t_in1k.pth
# or save there the weights of mmpretrain's model-zoo entry
#   convnext-tiny_32xb128_in1k
# (its `Weights` URL in mmpretrain's configs/*/metafile.yml).
# Evaluate it:
#   python tools/test.py configs/teachers/convnext-t_in1k.py \
#       checkpoints/convnext-t_in1k.pth
# The training settings only complete the config; the teacher is not
# trained here.
_base_ = '../_base_/recipes/in1k_vit_8xb128-300e.py'

model = _base_.convnext_t
