from .config import config_file, resolve_model_cfg
from .release import (check_state_dict_matches, extract_student_state_dict,
                      file_sha256, publish_checkpoint, read_checkpoint,
                      release_meta, student_config_dict)

__all__ = [
    'check_state_dict_matches', 'config_file', 'extract_student_state_dict',
    'file_sha256', 'publish_checkpoint', 'read_checkpoint', 'release_meta',
    'resolve_model_cfg', 'student_config_dict'
]
