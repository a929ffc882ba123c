"""Time, memory and host-device syncs of a distillation config's training
iterations: the student alone, the teacher forward, the exit branches and
the whole distillation step (what each measures:
:mod:`ofakd_mm.utils.benchmark`).

Example::

    python tools/analysis/benchmark.py \\
        configs/ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py \\
        --batch-size 16 --iters 10 --warmup 3 --json bench.json
    python tools/analysis/benchmark.py CONFIG --device cuda \\
        --batch-size 128 --amp bf16 --channels-last --json bench.json
"""
import argparse
import json
from typing import Any, Dict, List, Optional

from mmengine.config import DictAction

from ofakd_mm.utils.benchmark import benchmark_config, format_results


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments of the benchmark."""
    parser = argparse.ArgumentParser(
        description='Time and memory of a student step, a teacher forward '
        'and a distillation step of a config.')
    parser.add_argument('config', help='distillation config file')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations of each measurement')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations before them')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--input-size', type=int, nargs='+',
                        help='H [W]; default: the algorithm\'s input_size '
                        'or the crop/resize of the train pipeline')
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument(
        '--amp', choices=['bf16', 'fp16'],
        help='mixed precision (CUDA): AmpOptimWrapper with this dtype (bf16 '
        'without loss scaling), the teacher forward under the same autocast')
    parser.add_argument('--channels-last', action='store_true',
                        help='set the algorithm\'s channels_last')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument(
        '--profile', type=int, default=0, metavar='N',
        help='also profile a distillation iteration with torch.profiler and '
        'print the N most expensive operators (self time)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.distiller.stages=[4]')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Entry point: ``python tools/analysis/benchmark.py CONFIG ...``."""
    args = parse_args(argv)
    results = benchmark_config(
        args.config, batch_size=args.batch_size, iters=args.iters,
        warmup=args.warmup, device=args.device, input_size=args.input_size,
        threads=args.threads, amp=args.amp, channels_last=args.channels_last,
        profile=args.profile, cfg_options=args.cfg_options)
    print(format_results(results))
    profile = results.pop('profile', None)
    if profile:
        print(profile)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
        print(f'written to {args.json}')
    return results


if __name__ == '__main__':
    main()
