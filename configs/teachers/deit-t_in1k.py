# DeiT-T ImageNet-1K teacher. Its checkpoint goes to
#   checkpoints/deit-t_in1k.pth
# Get it by converting timm's `deit_tiny_patch16_224` weights:
#   python tools/model_converters/timm_to_mmpretrain.py --model deit-t \
#       deit_tiny_patch16_224.pth checkpoints/deit-t_in1k.pth
# or save there the weights of mmpretrain's model-zoo entry
#   deit-tiny_4xb256_in1k
# (its `Weights` URL in mmpretrain's configs/*/metafile.yml).
# Evaluate it:
#   python tools/test.py configs/teachers/deit-t_in1k.py \
#       checkpoints/deit-t_in1k.pth
# The training settings only complete the config; the teacher is not
# trained here.
_base_ = '../_base_/recipes/in1k_vit_8xb128-300e.py'

model = _base_.deit_t
