"""Typed experiment configs: the schema (qa_lab.config.schema) <- experiments/base.yaml <- experiment yaml(s) <-
key=value (qa_lab.config.loader). Everything a caller needs is importable from here."""

from qa_lab.config.loader import (EARLIER_DEFAULTS, EXPERIMENTS_DIR, RESUME_MAY_CHANGE, SMOKE, check_resume,
                                  differences, experiment_names, experiment_path, from_yaml, from_yaml_text,
                                  load_config, to_yaml)
from qa_lab.config.schema import (AUDIO_PADDING, DECODE_TIMES, LOSS_NORMALIZATIONS, PARTS, PROJECTORS, STAGES,
                                  STRATEGIES, TAG_FORMATS, WORLD_LANGUAGES, WORLD_SIZES, Config, ConfigError,
                                  DataConfig, DecodeConfig, LoraConfig, ModelConfig, PartsConfig, PartsRecipe,
                                  TagsConfig, TrainerConfig, WorldConfig)

__all__ = ["AUDIO_PADDING", "DECODE_TIMES", "EARLIER_DEFAULTS", "EXPERIMENTS_DIR", "LOSS_NORMALIZATIONS", "PARTS",
           "PROJECTORS", "RESUME_MAY_CHANGE", "SMOKE", "STAGES", "STRATEGIES", "TAG_FORMATS", "WORLD_LANGUAGES",
           "WORLD_SIZES", "Config", "ConfigError", "DataConfig", "DecodeConfig", "LoraConfig", "ModelConfig",
           "PartsConfig", "PartsRecipe", "TagsConfig", "TrainerConfig", "WorldConfig", "check_resume", "differences",
           "experiment_names", "experiment_path", "from_yaml", "from_yaml_text", "load_config", "to_yaml"]
