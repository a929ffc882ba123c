# Mixer-B/16 ImageNet-1K teacher. Its checkpoint goes to
#   checkpoints/mixer-b16_in1k.pth
# Get it by converting timm's `mixer_b16_224` weights:
#   python tools/model_converters/timm_to_mmpretrain.py --model mixer-b16 \
#       mixer_b16_224.pth checkpoints/mixer-b16_in1k.pth
# or save there the weights of mmpretrain's model-zoo entry
#   mlp-mixer-base-p16_3rdparty_64xb64_in1k
# (its `Weights` URL in mmpretrain's configs/*/metafile.yml).
# Evaluate it:
#   python tools/test.py configs/teachers/mixer-b16_in1k.py \
#       checkpoints/mixer-b16_in1k.pth
# The training settings only complete the config; the teacher is not
# trained here.
_base_ = '../_base_/recipes/in1k_vit_8xb128-300e.py'

model = _base_.mixer_b16
