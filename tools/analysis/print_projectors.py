"""Print the OFA-KD projectors a config builds: per stage the student module,
what it outputs, the projector and its parameter count."""
import argparse

import ofakd_mm  # noqa: F401  (applies the compatibility layer first)
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='an OFAKDDistill config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args()


def describe(cfg: dict) -> str:
    """One-line description of a projector config."""
    if cfg['type'] == 'OFAKDConvProjector':
        return f"feature map C={cfg['in_channels']}"
    grid = cfg['grid_size']
    grid = grid if isinstance(grid, int) else 'x'.join(map(str, grid))
    return (f"tokens E={cfg['embed_dim']} grid={grid} "
            f"extra={cfg['num_extra_tokens']}")


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    model_cfg.teacher_ckpt = None  # shapes only: no weights needed
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    algo = MODELS.build(model_cfg)
    distiller = algo.distiller
    first = next(iter(distiller.projector_cfgs.values()))
    print(f'{args.config}\nstudent {type(algo.student.backbone).__name__}, '
          f'teacher {type(algo.teacher.backbone).__name__}, input '
          f'{algo.input_size}, d_S={first["student_dim"]}, '
          f'num_classes={first["num_classes"]}')
    header = f'{"stage":<8}{"source":<24}{"input":<32}{"projector":<22}' \
        f'{"params":>12}'
    print(header + '\n' + '-' * len(header))
    total = 0
    for name, pcfg in distiller.projector_cfgs.items():
        source = distiller.student_recorders.get_recorder(name).source
        params = sum(p.numel()
                     for p in distiller.connectors[name].parameters())
        total += params
        print(f'{name:<8}{source:<24}{describe(pcfg):<32}{pcfg["type"]:<22}'
              f'{params:>12,}')
    print(f'{"total":<86}{total:>12,}')


if __name__ == '__main__':
    main()
