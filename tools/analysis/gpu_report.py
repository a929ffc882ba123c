"""The GPU figures of the README in one run: the benchmark of
:mod:`ofakd_mm.utils.benchmark` for the two reference pairs at batch 128,
224 px, in bf16 and fp32 (more with ``--amp``, ``--channels-last``,
``--batch-sizes``); one JSON (written after every run) and a markdown table.

Example (on a CUDA host)::

    python tools/analysis/gpu_report.py --json work_dirs/gpu_report.json

``tools/analysis/gpu_check.sh`` runs it, and the official code's benchmark
(``tools/analysis/official_benchmark.py``) beside it.
"""
import argparse
import itertools
import json
import os.path as osp
from typing import Any, Dict, List, Optional

from ofakd_mm.utils.benchmark import (benchmark_config, format_results,
                                      markdown_table, record_run)

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
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[128])
    parser.add_argument('--amp', nargs='+', default=['bf16', 'fp32'],
                        choices=['bf16', 'fp16', 'fp32'])
    parser.add_argument('--channels-last', nargs='+', default=['off'],
                        choices=['off', 'on'])
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--json', help='write all results to this file')
    parser.add_argument(
        '--official', help='JSON of tools/analysis/official_benchmark.py: '
        'print the official code\'s figures beside ours')
    parser.add_argument('--comparison-json',
                        help='write the side-by-side rows to this file')
    return parser.parse_args(argv)


def side_by_side(ours: List[Dict[str, Any]],
                 official: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rows of ours beside the official code's, for each pair and dtype
    both measured at the same batch size: times (ms), images/s, syncs and
    the ratios ours / official (below 1: ours is faster)."""
    rows = []
    for run in ours:
        match = [o for o in official if 'error' not in o and
                 o['pair'] == run['pair'] and o['amp'] == run['amp'] and
                 o['batch_size'] == run['batch_size'] and
                 not run['channels_last']]
        if 'error' in run or not match:
            continue
        other = match[0]
        row = dict(pair=run['pair'], batch_size=run['batch_size'],
                   dtype=run['amp'] or 'fp32', torch=run['torch'],
                   device_name=run['device_name'])
        for key in ('student_s', 'teacher_s', 'distill_s', 'distill_img_s',
                    'cuda_syncs'):
            row[key] = dict(ours=run.get(key), official=other.get(key))
        for key in ('student_s', 'distill_s'):
            row[key]['ratio'] = round(run[key] / other[key], 3)
        rows.append(row)
    return rows


def comparison_table(rows: List[Dict[str, Any]]) -> str:
    """Markdown table of :func:`side_by_side` rows."""
    lines = ['| pair | dtype | student ms ours / official (ratio) | teacher '
             'ms ours / official | distill ms ours / official (ratio) | '
             'distill img/s ours / official | syncs ours / official |',
             '|' + '---|' * 7]
    for row in rows:
        cell = []
        for key in ('student_s', 'teacher_s', 'distill_s'):
            value = row[key]
            text = f'{value["ours"] * 1e3:.1f} / {value["official"] * 1e3:.1f}'
            if 'ratio' in value:
                text += f' ({value["ratio"]:.3f})'
            cell.append(text)
        img, syncs = row['distill_img_s'], row['cuda_syncs']
        cell.append(f'{img["ours"]:.0f} / {img["official"]:.0f}')
        cell.append(f'{syncs["ours"]} / {syncs["official"]}')
        lines.append(f'| {row["pair"]} | {row["dtype"]} | ' +
                     ' | '.join(cell) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    args = parse_args(argv)
    runs = []
    for pair, batch, amp, cl in itertools.product(
            args.pairs, args.batch_sizes, args.amp, args.channels_last):
        setting = dict(batch=batch, amp=amp, channels_last=cl)
        try:
            result = benchmark_config(
                osp.join(REPO_ROOT, PAIRS[pair]), batch_size=batch,
                iters=args.iters, warmup=args.warmup, device=args.device,
                amp=None if amp == 'fp32' else amp,
                channels_last=cl == 'on')
        except RuntimeError as err:  # out of memory, a CUDA error
            result = dict(error=f'{type(err).__name__}: {err}')
            print(f'{pair} {setting}: {result["error"]}')
        else:
            print(format_results(result))
        result.update(pair=pair, setting=setting)
        record_run(runs, result, args.json, args.device)
    print(markdown_table([r for r in runs if 'error' not in r]))
    if args.official:
        with open(args.official) as f:
            rows = side_by_side(runs, json.load(f))
        print(comparison_table(rows))
        if args.comparison_json:
            with open(args.comparison_json, 'w') as f:
                json.dump(rows, f, indent=1)
    return runs


if __name__ == '__main__':
    main()
