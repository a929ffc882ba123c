"""Prepare a checkpoint for release: keep only ``state_dict`` and ``meta``
(optimizer, schedulers, message hub, EMA state dropped) and name it after
its sha256 as OpenMMLab does (``name.pth`` -> ``name-xxxxxxxx.pth``).

Example::

    python tools/model_converters/publish_model.py \\
        work_dirs/release/vit-d64_ofa_digits.pth \\
        work_dirs/release/vit-d64_ofa_digits.pth
"""
import argparse
import os.path as osp
import sys

from ofakd_mm.utils import release


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Process a checkpoint to be published')
    parser.add_argument('in_file', help='input (student) checkpoint')
    parser.add_argument(
        'out_file', help='output name.pth; written as name-<sha256[:8]>.pth')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        final = release.publish_checkpoint(args.in_file, args.out_file)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'{osp.basename(__file__)}: error: {e}')
    print(final)


if __name__ == '__main__':
    main()
