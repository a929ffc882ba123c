"""Where the host-device syncs of one distillation training step happen:
data preprocessing, forward + losses, backward, optimizer step and the log
read, each run under ``torch.cuda.set_sync_debug_mode`` (CUDA only).

Example::

    python tools/analysis/sync_breakdown.py \\
        configs/ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py --amp bf16
"""
import argparse
import collections
import warnings
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from ofakd_mm.engine.hooks import read_scalars
from ofakd_mm.models.utils import train_image_size
from ofakd_mm.utils.benchmark import (batch_factory, build_algorithm,
                                      optim_wrapper_cfg)

PHASES = ('preprocess', 'forward+losses', 'backward', 'optimizer',
          'log read')


def phases(algo, batch, wrapper) -> Iterator[str]:
    """One training iteration as ``BaseModel.train_step`` and the runtime
    info hook run it, pausing (with the device drained) after each
    phase."""
    with wrapper.optim_context(algo):
        data = algo.data_preprocessor(batch, True)
        torch.cuda.synchronize()
        yield PHASES[0]
        losses = algo._run_forward(data, mode='loss')
        loss, log_vars = algo.parse_losses(losses)
        torch.cuda.synchronize()
        yield PHASES[1]
    wrapper.backward(loss)
    torch.cuda.synchronize()
    yield PHASES[2]
    wrapper.step()
    wrapper.zero_grad()
    torch.cuda.synchronize()
    yield PHASES[3]
    read_scalars(log_vars)
    yield PHASES[4]


def breakdown(config: str, batch_size: int, amp: Optional[str]
              ) -> Dict[str, Tuple[int, Dict[str, int]]]:
    """Syncs per phase: ``{phase: (count, {source line: count})}``."""
    cfg = Config.fromfile(config)
    size = train_image_size(cfg)
    algo = build_algorithm(cfg, 'cuda', size)
    algo.train()
    batch = batch_factory(cfg, batch_size, size,
                          algo.student.head.num_classes, 'cuda')
    wrapper = build_optim_wrapper(algo, optim_wrapper_cfg(cfg, 'cuda', amp))
    for _ in range(3):  # warm-up: lazy initialisation syncs once
        list(phases(algo, batch(), wrapper))
    result = {}
    steps = phases(algo, batch(), wrapper)
    for _ in PHASES:
        torch.cuda.set_sync_debug_mode('warn')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            name = next(steps)
        torch.cuda.set_sync_debug_mode('default')
        where = collections.Counter(
            f'{w.filename.split("site-packages/")[-1]}:{w.lineno}'
            for w in caught if 'synchroniz' in str(w.message).lower()
            and w.filename != __file__)
        result[name] = (sum(where.values()), dict(where.most_common(5)))
    return result


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--amp', choices=['bf16', 'fp16'])
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit('sync_breakdown.py needs a CUDA GPU.')
    for name, (count, where) in breakdown(args.config, args.batch_size,
                                          args.amp).items():
        print(f'{name:<16}{count:>5} syncs  {where}')


if __name__ == '__main__':
    main()
