# BEiT v2-B ImageNet-1K teacher. Its checkpoint goes to
#   checkpoints/beitv2-b_in1k.pth
# Get it by converting timm's `beitv2_base_patch16_224` weights:
#   python tools/model_converters/timm_to_mmpretrain.py --model beitv2-b \
#       beitv2_base_patch16_224.pth checkpoints/beitv2-b_in1k.pth
# or save there the weights of mmpretrain's model-zoo entry
#   beit-base-p16_beitv2-in21k-pre_3rdparty_in1k
# (its `Weights` URL in mmpretrain's configs/*/metafile.yml).
# Evaluate it:
#   python tools/test.py configs/teachers/beitv2-b_in1k.py \
#       checkpoints/beitv2-b_in1k.pth
# The training settings only complete the config; the teacher is not
# trained here.
_base_ = '../_base_/recipes/in1k_vit_8xb128-300e.py'

model = _base_.beitv2_b
