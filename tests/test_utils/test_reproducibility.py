"""The pinned CPU numerics of ofakd_mm.utils.reproducibility, observed in a
fresh process: which convolution kernels torch really runs."""
import json
import os
import subprocess
import sys

import pytest
import torch

from ofakd_mm.utils.reproducibility import PINNED_ENV

CONV_KERNELS = r'''
import json, sys, torch
from ofakd_mm.utils.reproducibility import numerics_info, pin_cpu_numerics
if sys.argv[1] == 'pinned':
    pin_cpu_numerics()
else:  # oneDNN off alone, as pin_cpu_numerics did before NNPACK was seen
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
x = torch.randn(32, 8, 12, 12, requires_grad=True)
conv = torch.nn.Conv2d(8, 16, 3, padding=1)  # stride 1, as in a ResNet
with torch.profiler.profile() as prof:
    conv(x).sum().backward()
print(json.dumps(dict(
    ops=sorted({e.name for e in prof.events() if 'conv' in e.name}),
    nnpack=numerics_info()['nnpack'])))
'''


def conv_kernels(mode: str) -> dict:
    env = dict(os.environ, **PINNED_ENV)
    out = subprocess.run([sys.executable, '-c', CONV_KERNELS, mode],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not torch.backends.nnpack.is_available(),
                    reason='this torch has no NNPACK')
def test_pinned_convolutions_avoid_the_cpu_dependent_kernels():
    # NNPACK blocks its sums by the CPU's cache sizes: the same seed gave
    # other teacher weights on another CPU while it ran the convolutions.
    free = conv_kernels('onednn_off')
    assert free['nnpack'] is True
    assert 'aten::_nnpack_spatial_convolution' in free['ops'], free
    pinned = conv_kernels('pinned')
    assert pinned['nnpack'] is False
    assert not any('nnpack' in op or 'mkldnn' in op
                   for op in pinned['ops']), pinned
    assert 'aten::_slow_conv2d_forward' in pinned['ops'], pinned
