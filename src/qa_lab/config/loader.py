"""Loading configs: the schema's defaults <- experiments/base.yaml <- an experiment's yaml chain <- key=value, with
unknown keys named (and the near miss suggested); the yaml form a run folder keeps, and what may change on resume."""

from __future__ import annotations

import difflib
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from qa_lab.config.schema import Config, ConfigError

EXPERIMENTS_DIR = Path(__file__).resolve().parents[3] / "experiments"

# What `smoke=true` forces over the experiment's yamls (not over key=value): tiny model, few steps, tiny corpus.
SMOKE = {
    "model": {"preset": "tiny", "audio_encoder": None, "language_model": None, "qwen2_audio": None},
    "trainer": {"max_steps": 3, "val_every_n_steps": 2, "log_every_n_steps": 1, "warmup_steps": 1,
                "checkpoint_every_n_steps": 2},
    "data": {"batch_seconds": 12.0},
    "decode": {"max_new_tokens": 32},  # an untrained model writes to each task's budget (256 for srwt)
    "world": {"n_train": 8, "n_val": 2, "n_test": 2},
    "parts": {"encoder_steps": 2, "encoder_clips": 4, "llm_steps": 2,
              "world_overrides": {"n_train": 4, "n_val": 2, "n_test": 1}},
}


def _valid_keys(node: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in fields(node):
        path = f"{prefix}{f.name}"
        keys.append(path)
        default = getattr(node, f.name)
        if is_dataclass(default):
            keys.extend(_valid_keys(default, path + "."))
    return keys


def _check_keys(raw: Any, schema: DictConfig, where: str, prefix: str = "") -> None:
    """Unknown keys are errors naming the key, the file, and the closest valid key."""
    if not isinstance(raw, (dict, DictConfig)):
        return
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if key not in schema:
            valid = _valid_keys(Config())
            close = difflib.get_close_matches(path, valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: unknown config key '{path}'{hint}")
        sub = schema[key]
        if isinstance(sub, DictConfig) and OmegaConf.get_type(sub) not in (dict, None):
            _check_keys(value, sub, where, path + ".")


def _merge(base: DictConfig, raw: Any, where: str) -> DictConfig:
    _check_keys(raw, base, where)
    try:
        return OmegaConf.merge(base, raw)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or ""
        msg = str(e).splitlines()[0]
        raise ConfigError(f"{where}: bad value for '{key}': {msg}") from None


def experiment_path(name: str | Path) -> Path:
    """An experiment name ('demo', 'ablations/srwt_on') or a path to a yaml file -> the yaml's path."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    q = EXPERIMENTS_DIR / f"{str(name).removesuffix('.yaml')}.yaml"
    if q.is_file():
        return q
    known = experiment_names()
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"experiment '{name}' not found (no {q}); known: {', '.join(known)}{hint}")


def _experiment_name(path: Path) -> str:
    """A yaml's name as load_config takes it ('ablations/srwt_on'), or its path when it is outside experiments/."""
    try:
        return path.resolve().relative_to(EXPERIMENTS_DIR.resolve()).with_suffix("").as_posix()
    except ValueError:
        return str(path)


def experiment_names() -> list[str]:
    """Every yaml under experiments/, as names load_config takes ('demo', 'ablations/srwt_on')."""
    return sorted(str(x.relative_to(EXPERIMENTS_DIR).with_suffix("")) for x in EXPERIMENTS_DIR.rglob("*.yaml")
                  if "results" not in x.relative_to(EXPERIMENTS_DIR).parts)


def _load_yaml(path: Path) -> dict:
    try:
        raw = OmegaConf.load(path)
    except Exception as e:  # yaml syntax errors come in many types
        raise ConfigError(f"{path}: cannot parse yaml ({e})") from None
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return OmegaConf.to_container(raw)


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    """The yaml and its ancestors, base first, following `parent:` keys."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: parent chain loops through {', '.join(map(str, seen))}")
    raw = _load_yaml(path)
    parent = raw.get("parent")
    if parent is None:
        return [(path, raw)]
    return _chain(experiment_path(parent), seen + (path.resolve(),)) + [(path, raw)]


def _to_config(cfg: DictConfig, where: str, origins: dict[str, str] | None = None) -> Config:
    """Instantiate the dataclasses (running their validation); errors name the file or override that set the key
    at fault (`origins`: dotted key -> where it was set), else `where`."""
    try:
        return OmegaConf.to_object(cfg)
    except (ConfigError, OmegaConfBaseException) as e:
        msg = str(e).splitlines()[0]
        key = msg.split("=", 1)[0].split(":", 1)[0].split(" ", 1)[0]
        setters = [k for k in (origins or {}) if key == k or key.startswith(k + ".") or k.startswith(key + ".")]
        raise ConfigError(f"{(origins or {}).get(max(setters, key=len), where) if setters else where}: {msg}") from None


def _record(origins: dict[str, str], raw: Any, where: str) -> None:
    """Note `where` as the setter of every dotted key in `raw` (a dict or DictConfig)."""
    if isinstance(raw, DictConfig):
        raw = OmegaConf.to_container(raw)
    if isinstance(raw, dict):
        origins.update(dict.fromkeys(_flat(raw), where))


def _override(cfg: DictConfig, item: str) -> DictConfig:
    if "=" not in item:
        raise ConfigError(f"override '{item}': expected key=value")
    key, _ = item.split("=", 1)
    return _merge(cfg, OmegaConf.from_dotlist([item]), f"override '{key}'")


def load_config(experiment: str | Path = "base", overrides: list[str] | tuple[str, ...] = (),
                layers: list[str | Path] | tuple = ()) -> Config:
    """Merge schema <- base.yaml <- parents <- experiment <- `layers` (e.g. a scale yaml) <- `key=value` overrides;
    validate; return Config."""
    path = experiment_path(experiment)
    cfg = OmegaConf.structured(Config)
    chain = _chain(path)
    inside = EXPERIMENTS_DIR.resolve() in path.resolve().parents
    if chain[0][0].resolve() != (EXPERIMENTS_DIR / "base.yaml").resolve() and inside:
        raise ConfigError(f"{path}: its parent chain must end at base.yaml (set `parent: base`)")
    origins: dict[str, str] = {}
    for p, raw in chain:
        cfg = _merge(cfg, raw, str(p))
        _record(origins, raw, str(p))
    for layer in layers:
        lp = experiment_path(layer)
        raw = {k: v for k, v in _load_yaml(lp).items() if k != "parent"}
        cfg = _merge(cfg, raw, str(lp))
        _record(origins, raw, str(lp))
    cfg.name = path.stem
    cfg.parent = _experiment_name(chain[-2][0]) if len(chain) > 1 else None
    def apply_overrides(cfg: DictConfig) -> DictConfig:
        for item in overrides:
            cfg = _override(cfg, item)
            _record(origins, OmegaConf.from_dotlist([item]), f"override '{item.split('=', 1)[0]}'")
        return cfg
    cfg = apply_overrides(cfg)
    if cfg.smoke:  # shrink whatever the yamls say; explicit key=value overrides still win
        cfg = OmegaConf.merge(cfg, SMOKE)
        _record(origins, SMOKE, "smoke=true")
        cfg = apply_overrides(cfg)
    return _to_config(cfg, str(path), origins)


# Keys a resumed run may change: when and how long to train, log and checkpoint, where things go, the hardware.
RESUME_MAY_CHANGE = ("name", "parent", "runs_dir", "trainer.max_steps", "trainer.step_fraction",
                     "trainer.val_every_n_steps", "trainer.log_every_n_steps", "trainer.checkpoint_every_n_steps",
                     "trainer.keep_checkpoints", "trainer.val_decode_per_task",
                     "trainer.grad_conflict_every_n_steps", "trainer.accelerator", "trainer.devices",
                     "trainer.num_nodes", "data.num_workers", "data.features_dir", "decode.")


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def differences(a: Config, b: Config) -> dict[str, tuple[Any, Any]]:
    """Every dotted key whose value differs between two configs -> (value in a, value in b)."""
    # world.seed null and the run's seed written out are the same world
    fa, fb = ({**_flat(OmegaConf.to_container(OmegaConf.structured(c))), "world.seed": c.world_seed} for c in (a, b))
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}


def check_resume(cfg: Config, stored_yaml: str | None, checkpoint: str | Path) -> None:
    """A run resumed from `checkpoint` must keep every key that changes the model or the data (RESUME_MAY_CHANGE
    lists the ones that may change); the error names each differing key with both values."""
    if stored_yaml is None:
        raise ConfigError(f"--resume {checkpoint}: not a qa-lab checkpoint (no config inside)")
    stored = from_yaml_text(stored_yaml, f"{checkpoint} (its stored config)")
    changed = {k: v for k, v in differences(stored, cfg).items()
               if not any(k == m or (m.endswith(".") and k.startswith(m)) for m in RESUME_MAY_CHANGE)}
    if changed:
        lines = "\n  ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in changed.items())
        raise ConfigError(f"--resume {checkpoint}: the config differs from the checkpoint's in keys that change the "
                          f"model or the data:\n  {lines}\nResume with the checkpoint's values, or start a new run from "
                          f"its weights with init_from={checkpoint}")


def to_yaml(cfg: Config) -> str:
    """The resolved config as yaml (what run folders store)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def from_yaml(path: str | Path) -> Config:
    """Read back a resolved config written by to_yaml (run folders, exports)."""
    return from_yaml_text(Path(path).read_text(), str(path))


# Keys whose default changed, with the value a stored config written before the change meant by leaving them out.
# A run folder or checkpoint made then reads as made with the old value, so it is never mistaken for the new recipe.
EARLIER_DEFAULTS = {"trainer.loss_normalization": "batch"}  # before 2026-12-04


def from_yaml_text(text: str, where: str = "<config>") -> Config:
    """A resolved config from yaml text (as stored inside checkpoints and run folders)."""
    raw = OmegaConf.create(text)
    for key, old in EARLIER_DEFAULTS.items():
        if OmegaConf.select(raw, key, default=None) is None:
            OmegaConf.update(raw, key, old, force_add=True)
    return _to_config(_merge(OmegaConf.structured(Config), raw, where), where)
