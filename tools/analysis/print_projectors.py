"""Print the OFA-KD projectors a config builds: per stage the student module,
what it outputs, the projector and its parameter count, then why each module
was chosen (stage table, discovered from the dry run, or the config's
``stage_sources``) and how a token stage's grid was found. The config's
``input_size`` is checked against its train pipeline first."""
import argparse
from typing import Dict

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

import ofakd_mm  # noqa: F401  (compatibility layer, registers components)
from ofakd_mm.models.distillers import OFAKDDistiller
from ofakd_mm.models.utils import check_input_size


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='an OFA-KD distillation config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args()


def describe(cfg: Dict) -> str:
    """One-line description of a projector config."""
    if cfg['type'] == 'OFAKDConvProjector':
        layout = ' NHWC' if cfg.get('data_format') == 'channels_last' else ''
        return f"feature map C={cfg['in_channels']}{layout}"
    grid = cfg['grid_size']
    grid = grid if isinstance(grid, int) else 'x'.join(map(str, grid))
    return (f"tokens E={cfg['embed_dim']} grid={grid} "
            f"extra={cfg.get('num_extra_tokens', 0)}")


def params_of(module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    checked = check_input_size(cfg)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    model_cfg.teacher_ckpt = None  # shapes only: no weights needed
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    algo = MODELS.build(model_cfg)
    distiller = algo.distiller
    student = type(getattr(algo.student, 'backbone', algo.student)).__name__
    teacher = type(getattr(algo.teacher, 'backbone', algo.teacher)).__name__
    line = f'{args.config}\nstudent {student}, teacher {teacher}'
    if hasattr(algo, 'input_size'):
        line += f', input {algo.input_size}'
    if checked:
        line += f' (the train pipeline gives {checked[0]}x{checked[1]})'
    print(line)
    if not isinstance(distiller, OFAKDDistiller):
        print('connectors declared in the config:')
        total = 0
        for name, connector in distiller.connectors.items():
            total += params_of(connector)
            print(f'{name:<8}{type(connector).__name__:<24}'
                  f'{params_of(connector):>12,}')
        print(f'{"total":<32}{total:>12,}')
        return
    first = next(iter(distiller.projector_cfgs.values()))
    print(f'd_S={first["student_dim"]}, num_classes={first["num_classes"]}')
    sources = {
        name: distiller.student_recorders.get_recorder(name).source
        for name in distiller.projector_cfgs
    }
    width = max(24, max(len(s) for s in sources.values()) + 2)
    header = (f'{"stage":<8}{"source":<{width}}{"input":<32}'
              f'{"projector":<22}{"params":>12}')
    print(header + '\n' + '-' * len(header))
    total = 0
    for name, pcfg in distiller.projector_cfgs.items():
        params = params_of(distiller.connectors[name])
        total += params
        print(f'{name:<8}{sources[name]:<{width}}{describe(pcfg):<32}'
              f'{pcfg["type"]:<22}{params:>12,}')
    print(f'{"total":<{len(header) - 12}}{total:>12,}')
    print('why:')
    for name in distiller.projector_cfgs:
        reason = distiller.stage_reasons.get(name, '')
        layout = distiller.layout_reasons.get(name)
        print(f'  {name:<8}{reason}' + (f'; {layout}' if layout else ''))


if __name__ == '__main__':
    main()
