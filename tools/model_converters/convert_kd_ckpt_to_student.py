"""Turn a distillation checkpoint into a plain mmpretrain checkpoint of the
student (projectors and teacher dropped, ``architecture.`` prefix stripped),
and optionally export the student's config as a standalone mmpretrain config.

Example (the digits OFA-KD config)::

    CFG=ofa_resnet18-w16_vit-d64-l8_1xb32-40e_digits20shot
    python tools/model_converters/convert_kd_ckpt_to_student.py \\
        work_dirs/$CFG/epoch_40.pth work_dirs/release/vit-d64_ofa_digits.pth \\
        --config configs/quickstart/$CFG.py \\
        --config-out work_dirs/release/vit-d64_ofa_digits.py
"""
import argparse
import os.path as osp
import sys
from typing import Optional

from ofakd_mm.utils import release


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a distillation checkpoint to a plain '
        'mmpretrain checkpoint of the student')
    parser.add_argument('checkpoint', help='distillation checkpoint')
    parser.add_argument('out', help='output student checkpoint (.pth)')
    parser.add_argument(
        '--ema', action='store_true',
        help='release the EMA weights of an EMAHook run (error if the '
        'checkpoint has none); default: the raw trained weights')
    parser.add_argument(
        '--config', help='the distillation config of the run: the student '
        'built from it must match the checkpoint keys exactly')
    parser.add_argument(
        '--config-out', help='write the student as a standalone mmpretrain '
        'config (.py) here; needs --config')
    args = parser.parse_args()
    if args.config_out and not args.config:
        parser.error('--config-out needs --config (the distillation config).')
    if args.config_out and not args.config_out.endswith('.py'):
        parser.error(f'--config-out must be a .py file, got '
                     f'{args.config_out!r}.')
    if osp.abspath(args.out) == osp.abspath(args.checkpoint):
        parser.error('OUT must differ from the input checkpoint.')
    return args


def convert(checkpoint_file: str, out: str, ema: bool = False,
            config: Optional[str] = None,
            config_out: Optional[str] = None) -> None:
    """Write the student checkpoint (and config); see the module doc."""
    checkpoint = release.read_checkpoint(checkpoint_file)
    state_dict, dropped = release.extract_student_state_dict(
        checkpoint, checkpoint_file, ema=ema)
    if not ema and 'ema_state_dict' in checkpoint:
        print('note: the checkpoint has EMA weights (the ones its '
              'validation and tools/test.py use); releasing the raw '
              'weights, pass --ema for the EMA ones.')
    source_meta = dict(checkpoint.get('meta') or {})
    distill_cfg_text = source_meta.pop('cfg', None)
    meta_extra = dict(
        source_checkpoint=osp.basename(checkpoint_file),
        source_checkpoint_sha256=release.file_sha256(checkpoint_file),
        source_config=osp.basename(config) if config else None,
        source_cfg=distill_cfg_text,
        ema=ema)

    if config:
        from mmengine.config import Config
        cfg = Config.fromfile(config)  # imports its custom_imports
        cfg_dict, notes = release.student_config_dict(cfg, config)
        release.check_state_dict_matches(
            state_dict, release.build_student(cfg_dict), config)
        if config_out:
            header = (
                f'Student of the distillation config {osp.basename(config)}'
                ' exported by\ntools/model_converters/'
                'convert_kd_ckpt_to_student.py: a plain mmpretrain config.\n'
                'Data, evaluators, schedules and runtime are those of the '
                'distillation run.')
            if notes:
                header += '\nNotes:\n' + '\n'.join(f'- {n}' for n in notes)
            release.write_config(cfg_dict, config_out, header)
            meta_extra['cfg'] = Config(cfg_dict).pretty_text
            print(f'Wrote the student config {config_out}')
        for note in notes:
            print(f'note: {note}')

    new_checkpoint = dict(
        meta=release.release_meta(source_meta, **meta_extra),
        state_dict=state_dict)
    release.save_checkpoint(new_checkpoint, out)
    print(f'Wrote the student checkpoint {out} ({len(state_dict)} tensors, '
          f'dropped {dropped or "nothing"}, '
          f'{"EMA" if ema else "raw"} weights)')


def main() -> None:
    args = parse_args()
    try:
        convert(args.checkpoint, args.out, args.ema, args.config,
                args.config_out)
    except (FileNotFoundError, KeyError, ValueError) as e:
        message = e.args[0] if e.args else str(e)
        sys.exit(f'{osp.basename(__file__)}: error: {message}')


if __name__ == '__main__':
    main()
