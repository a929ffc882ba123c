"""Bit-reproducible CPU training: the floating-point settings that worker
processes are pinned to, and fingerprints of trained weights.

With :data:`PINNED_ENV` set when a process starts and
:func:`pin_cpu_numerics` called in it, the same config and seed give the
same weights, bit for bit, on any x86-64 machine with the same package
versions (:func:`numerics_info` records them).
"""
import contextlib
import hashlib
import os
from typing import Any, Dict, Iterator, Sequence, Tuple

import torch

#: The environment of the worker processes, read by the libraries when they
#: load: one thread (thread counts change the order of floating-point sums),
#: ATen's portable kernels instead of the AVX2 / AVX-512 ones the CPU allows
#: (vector widths change it too), and MKL's conditional numerical
#: reproducibility in its COMPATIBLE branch (the same code path on Intel and
#: AMD processors). oneDNN and NNPACK, whose kernels and blockings are chosen
#: per CPU, are switched off by :func:`pin_cpu_numerics` (convolutions then
#: run as im2col + MKL GEMM).
PINNED_ENV = {
    'OMP_NUM_THREADS': '1',
    'MKL_NUM_THREADS': '1',
    'ATEN_CPU_CAPABILITY': 'default',
    'MKL_CBWR': 'COMPATIBLE',
}


@contextlib.contextmanager
def pinned_environment() -> Iterator[None]:
    """:data:`PINNED_ENV` in ``os.environ`` while processes start (they
    inherit it), the caller's environment restored afterwards."""
    saved = {name: os.environ.get(name) for name in PINNED_ENV}
    os.environ.update(PINNED_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pin_cpu_numerics() -> None:
    """Pin this process (started with :data:`PINNED_ENV`): one thread, no
    oneDNN, no NNPACK, and a check that ATen really uses its portable
    kernels.

    NNPACK runs stride-1 convolutions on a CPU when oneDNN is off; it sizes
    its blocks, and so the order of its sums, from the CPU's caches.

    Raises:
        RuntimeError: The process was not started with
            ``ATEN_CPU_CAPABILITY=default``.
    """
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != 'DEFAULT':
        raise RuntimeError(
            f'ATen CPU capability is {capability}, not DEFAULT: the worker '
            'was not started with ATEN_CPU_CAPABILITY=default, so its '
            'results would depend on the CPU.')


def numerics_info() -> Dict[str, Any]:
    """What the floating-point results of this process depend on: the
    numerics settings and the versions of the packages that compute (and of
    scikit-learn and OpenCV, which provide and decode the digits)."""
    import cv2
    import mmcv
    import mmengine
    import mmpretrain
    import mmrazor
    import numpy as np
    import sklearn
    return dict(
        torch=torch.__version__,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        threads=torch.get_num_threads(),
        mkldnn=torch.backends.mkldnn.enabled,
        # torch.backends.nnpack has no getter; its set_flags reads this
        nnpack=torch._C._get_nnpack_enabled(),
        mkl_cbwr=os.environ.get('MKL_CBWR'),
        versions=dict(mmengine=mmengine.__version__, mmcv=mmcv.__version__,
                      mmpretrain=mmpretrain.__version__,
                      mmrazor=mmrazor.__version__, numpy=np.__version__,
                      sklearn=sklearn.__version__, opencv=cv2.__version__))


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 of a model's ``state_dict`` (names and values, in name order):
    the same for bit-identical weights."""
    state = model.state_dict()
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy()
                      .tobytes())
    return digest.hexdigest()


def weights_fingerprint(named_hashes: Sequence[Tuple[str, str]]) -> str:
    """One short hash of several models' :func:`weights_sha256`, each named
    (e.g. ``'vit/ofa/seed0'``), in the given order: equal fingerprints,
    bit-identical models.

    Returns:
        str: 16 hex digits.
    """
    text = '\n'.join(f'{name} {sha}' for name, sha in named_hashes)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
