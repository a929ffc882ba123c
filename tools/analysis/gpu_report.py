"""The GPU figures of the README in one run: ``benchmark.py`` for the two
reference pairs, at the recipes' per-GPU batch sizes, in fp32 and AMP
(bf16, fp16), with and without channels-last; one JSON and a markdown table.

Example (on a CUDA host)::

    python tools/analysis/gpu_report.py --json work_dirs/gpu_report.json

``tools/analysis/gpu_check.sh`` runs it after the CUDA tests.
"""
import argparse
import itertools
import json
import os.path as osp
from typing import Any, Dict, List, Optional

import benchmark as bm  # tools/analysis/benchmark.py, beside this script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The pairs of the issue's targets: a CNN student of a ViT teacher and a
#: ViT student of a CNN teacher.
PAIRS = {
    'R18<-DeiT-T': 'configs/ofa/ofa_deit-t_resnet18_8xb64-100e_in1k.py',
    'DeiT-T<-R50': 'configs/ofa/ofa_resnet50_deit-t_8xb128-300e_in1k.py',
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pairs', nargs='+', default=list(PAIRS),
                        choices=list(PAIRS))
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        default=[64, 128])
    parser.add_argument('--amp', nargs='+', default=['bf16', 'fp16', 'fp32'],
                        choices=['bf16', 'fp16', 'fp32'])
    parser.add_argument('--channels-last', nargs='+', default=['off', 'on'],
                        choices=['off', 'on'])
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--json', help='write all results to this file')
    return parser.parse_args(argv)


def table(runs: List[Dict[str, Any]]) -> str:
    """Markdown table of the runs (ms per step, images/s, ratios, MiB)."""
    lines = [
        '| pair | batch | dtype | channels_last | student ms | teacher ms '
        '| branches ms | distill ms | distill img/s | ratio | floor ratio '
        '| CUDA syncs | peak MiB (s / t / b / d) |',
        '|' + '---|' * 13,
    ]
    for run in runs:
        mem = run['peak_mem_mb']
        lines.append(
            f'| {run["pair"]} | {run["batch_size"]} | '
            f'{run["amp"] or "fp32"} | {run["channels_last"]} | '
            f'{run["student_s"] * 1e3:.1f} | {run["teacher_s"] * 1e3:.1f} | '
            f'{run["branches_s"] * 1e3:.1f} | {run["distill_s"] * 1e3:.1f} | '
            f'{run["batch_size"] / run["distill_s"]:.0f} | '
            f'{run["overhead_ratio"]:.3f} | {run["floor_ratio"]:.3f} | '
            f'{run.get("cuda_syncs", "-")} | {mem["student"]:.0f} / '
            f'{mem["teacher"]:.0f} / {mem["branches"]:.0f} / '
            f'{mem["distill"]:.0f} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    args = parse_args(argv)
    runs = []
    for pair, batch, amp, cl in itertools.product(
            args.pairs, args.batch_sizes, args.amp, args.channels_last):
        bench_args = [
            osp.join(REPO_ROOT, PAIRS[pair]), '--device', args.device,
            '--batch-size', str(batch), '--iters', str(args.iters),
            '--warmup', str(args.warmup)
        ]
        if amp != 'fp32':
            bench_args += ['--amp', amp]
        if cl == 'on':
            bench_args.append('--channels-last')
        try:
            result = bm.run_benchmark(bm.parse_args(bench_args))
        except Exception as e:  # keep the other settings' figures
            result = dict(error=f'{type(e).__name__}: {e}')
            print(f'{pair} batch {batch} {amp} channels_last={cl}: '
                  f'{result["error"]}')
        else:
            print(bm.format_results(result))
        result.update(pair=pair, setting=dict(batch=batch, amp=amp,
                                              channels_last=cl))
        runs.append(result)
        if args.json:  # after every run: a timeout keeps what was measured
            with open(args.json, 'w') as f:
                json.dump(runs, f, indent=1)
        if args.device == 'cuda':
            import torch
            torch.cuda.empty_cache()
    print(table([r for r in runs if 'error' not in r]))
    return runs


if __name__ == '__main__':
    main()
