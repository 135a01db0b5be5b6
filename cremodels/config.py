"""Study configuration: validation, the grid of runs, and per-run settings.

The workflow (rules/common.smk) and the tests call into this module, so the whole
meaning of a config file lives here and not in Snakemake code:

* `validate_config` checks a config against `schemas/config.schema.yaml`, fills in
  defaults, and raises `ConfigError` naming every bad key path and what it allows;
* `expand_runs` turns the grid (and the masking section) into `Run`s;
* `train_settings` / `model_settings` resolve what one run needs, and nothing more,
  so a run's fingerprint changes only when something that affects it changes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import jsonschema
import yaml

from cremodels.catalog import DATASETS

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
TRAIN_KEYS = ("epochs", "batch_size", "lr", "weight_decay")


class ConfigError(ValueError):
    """A config that cannot describe a study; the message lists every problem."""


# ---------------------------------------------------------------- validation


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _key_path(error: jsonschema.ValidationError) -> str:
    """`grid.lams[2]` style path of the config key an error is about."""
    parts = []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line: where, what is wrong, what is allowed."""
    message = error.message
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        message += f"; allowed keys: {', '.join(allowed)}"
    description = error.schema.get("description")
    if description and error.validator != "additionalProperties":
        message += f" ({' '.join(description.split())})"
    return f"{_key_path(error)}: {message}"


def _resolve(schema: dict, root: dict) -> dict:
    """A schema node with its local `$ref` (to `#/$defs/...`) merged in."""
    while "$ref" in schema:
        target = root["$defs"][schema["$ref"].split("/")[-1]]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _fill_defaults(instance: dict, schema: dict, root: dict) -> None:
    """Insert schema defaults for missing keys, recursing into objects."""
    schema = _resolve(schema, root)
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key not in instance and "$ref" in sub:
            ref = root["$defs"][sub["$ref"].split("/")[-1]]
            if "default" in ref:
                instance[key] = copy.deepcopy(ref["default"])
        if isinstance(instance.get(key), dict):
            _fill_defaults(instance[key], sub, root)


def _parse_cli_strings(value, schema: dict, root: dict):
    """Numbers and booleans that arrive as text where the schema wants them.

    Snakemake's `--config key=value` reads nested values as strings (and so does a
    profile's `config:` entry): `train="{epochs: 2}"` gives epochs '2'. Only text
    at a key whose schema type is numeric or boolean (and not also string) is
    read, as an int, a finite float or true/false; a whole number at a key that
    takes only text becomes its text; anything else is left for validation to judge.
    """
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        extra = extra if isinstance(extra, dict) else {}
        return {
            key: _parse_cli_strings(sub, properties.get(key, extra), root)
            for key, sub in value.items()
        }
    if isinstance(value, list):
        return [
            _parse_cli_strings(item, schema.get("items", {}), root) for item in value
        ]
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if types == {"string"} and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # `results_dir=123`: Snakemake read the text as a number
    if not isinstance(value, str) or "string" in types:
        return value
    text = value.strip()
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if types & {"integer", "number"}:
        with contextlib.suppress(ValueError):
            return int(text)
    if "number" in types:
        with contextlib.suppress(ValueError):
            number = float(text)
            if math.isfinite(number):
                return number
    return value


# "integer" means an int (JSON Schema would also take 3.0, which torch would not)
# and "number" a finite one (NaN passes every minimum and maximum).
_TYPE_CHECKER = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
    {
        "integer": lambda checker, value: (
            isinstance(value, int) and not isinstance(value, bool)
        ),
        "number": lambda checker, value: (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        ),
    }
)
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, type_checker=_TYPE_CHECKER
)


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Return a validated copy of `config` with defaults filled in.

    Raises ConfigError listing every problem, each with its key path
    (e.g. ``grid.lams[1]``) and the allowed values or range.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a mapping, got {type(config).__name__}")
    schema = load_schema(schema_path)
    config = _parse_cli_strings(copy.deepcopy(config), schema, schema)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid config ({len(errors)} problem(s)):\n  {lines}")
    _fill_defaults(config, schema, schema)
    _normalise_paths(config)
    _check_semantics(config)
    return config


def _normalise_paths(config: dict) -> None:
    """One spelling per directory ('./data/', 'data' and '<cwd>/data' are 'data'),
    so the paths the plan builds, the paths rules declare and the input paths
    Snakemake recorded always match; refuse a path that runs through a file."""
    problems = []
    places = (
        ("results_dir", config, "results_dir"),
        ("data.root", config["data"], "root"),
    )
    for key, section, name in places:
        path = os.path.normpath(section[name])
        if os.path.isabs(path) and _is_below(path, os.getcwd()):
            path = os.path.relpath(path)
        section[name] = path
        existing = _existing_ancestor(path)
        if not os.path.isdir(existing):
            problems.append(
                f"{key}: {path!r} runs through {existing!r}, which is not a directory "
                "(allowed: a directory path)"
            )
    if problems:
        lines = "\n  ".join(problems)
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n  {lines}")


def _is_below(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def _existing_ancestor(path: str) -> str:
    """`path` itself if it exists, else its nearest existing parent."""
    while not os.path.lexists(path) and os.path.dirname(path) not in ("", path):
        path = os.path.dirname(path)
    return path if os.path.lexists(path) else "."


def _check_semantics(config: dict) -> None:
    """Rules the schema cannot express; same message style as schema errors."""
    problems = []
    sections = [("grid", config["grid"])]
    if config["masking"].get("enabled"):
        for key in ("datasets", "latent_dims", "complexities", "seeds"):
            if key not in config["masking"]:
                problems.append(f"masking.{key}: required when masking.enabled is true")
        sections.append(("masking", config["masking"]))
    for name, section in sections:
        for dataset in section.get("datasets", []):
            input_dim = math.prod(DATASETS[dataset]["shape"])
            for latent_dim in section.get("latent_dims", []):
                if latent_dim > input_dim:
                    problems.append(
                        f"{name}.latent_dims: {latent_dim} exceeds the input dimension "
                        f"{input_dim} of {dataset} (allowed: 1..{input_dim})"
                    )
    vit_datasets = set()
    if "vit" in config["grid"]["archs"]:
        vit_datasets |= set(config["grid"]["datasets"])
    if config["masking"].get("enabled"):
        vit_datasets |= set(config["masking"].get("datasets", []))
    patch_sizes = config["model"]["vit"]["patch_size"]
    for dataset in sorted(vit_datasets):
        side = DATASETS[dataset]["shape"][-1]
        patch = patch_sizes.get(dataset)
        if patch is None or side % patch or patch >= side:
            problems.append(
                f"model.vit.patch_size.{dataset}: {patch} does not divide the image "
                f"side {side} (allowed: a divisor of {side} below {side})"
            )
            continue
        # every mask ratio in use must leave the encoder at least one patch
        patches = (side // patch) ** 2
        grid, masking = config["grid"], config["masking"]
        ratios = []
        if "vit" in grid["archs"] and dataset in grid["datasets"]:
            ratios.append(
                ("model.vit.mask_ratio", config["model"]["vit"]["mask_ratio"])
            )
        if masking.get("enabled") and dataset in masking.get("datasets", []):
            ratios += [("masking.mask_ratios", r) for r in masking["mask_ratios"]]
        for key, ratio in ratios:
            if int(patches * (1 - ratio)) < 1:
                problems.append(
                    f"{key}: {ratio} keeps none of the {patches} patches of {dataset} "
                    f"(patch size {patch}); allowed: at most {1 - 1 / patches:.4g}"
                )
    if problems:
        lines = "\n  ".join(problems)
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n  {lines}")


# ---------------------------------------------------------------- the grid


def format_lam(value: float) -> str:
    """The one spelling of a float (lam, mask ratio) in run names: the shortest
    text that reads back as the same float (0.1 -> '0.1', 1.0 -> '1', 1e-09 ->
    '1e-09'), so distinct values never share a run directory."""
    text = repr(float(value))
    return text.removesuffix(".0")


@dataclass(frozen=True, order=True)
class Run:
    """One training run: a point of the grid."""

    dataset: str
    arch: str
    latent_dim: int
    complexity: int
    mask_ratio: float
    lam: float
    seed: int

    # cached: planning the paper config asks for each run's name ~80 times
    @functools.cached_property
    def group(self) -> str:
        """Runs that may share a bundle: same data, architecture and model size."""
        mask = f"_m{format_lam(self.mask_ratio)}" if self.arch == "vit" else ""
        return f"{self.dataset}/{self.arch}/z{self.latent_dim}_c{self.complexity}{mask}"

    @functools.cached_property
    def name(self) -> str:
        """Readable path of the run below `<results_dir>/runs/`."""
        return f"{self.group}/lam{format_lam(self.lam)}_s{self.seed}"

    def as_dict(self) -> dict:
        return asdict(self)


def expand_runs(config: dict) -> list[Run]:
    """Every run of the study, sorted: the grid plus the masking section."""
    grid = config["grid"]
    vit_mask = config["model"]["vit"]["mask_ratio"]
    runs = set()
    for dataset, arch, latent_dim, complexity, lam, seed in itertools.product(
        grid["datasets"],
        grid["archs"],
        grid["latent_dims"],
        grid["complexities"],
        grid["lams"],
        grid["seeds"],
    ):
        mask = vit_mask if arch == "vit" else 0.0
        runs.add(
            Run(dataset, arch, latent_dim, complexity, float(mask), float(lam), seed)
        )
    masking = config["masking"]
    if masking.get("enabled"):
        for dataset, latent_dim, complexity, mask, lam, seed in itertools.product(
            masking["datasets"],
            masking["latent_dims"],
            masking["complexities"],
            masking["mask_ratios"],
            masking["lams"],
            masking["seeds"],
        ):
            runs.add(
                Run(
                    dataset,
                    "vit",
                    latent_dim,
                    complexity,
                    float(mask),
                    float(lam),
                    seed,
                )
            )
    return sorted(runs)


# ---------------------------------------------------------------- per-run settings


def train_settings(config: dict, run: Run) -> dict:
    """Epochs, batch size, learning rate and weight decay of one run."""
    train = config["train"]
    settings = {key: train[key] for key in TRAIN_KEYS}
    for override in train["overrides"]:
        when = override["when"]
        if all(getattr(run, key) == value for key, value in when.items()):
            settings.update(override["set"])
    return settings


def model_settings(config: dict, run: Run) -> dict:
    """Everything `cremodels.models.build_model` needs to rebuild the run's model."""
    dataset = DATASETS[run.dataset]
    settings = {
        "arch": run.arch,
        "input_shape": list(dataset["shape"]),
        "num_classes": dataset["classes"],
        "latent_dim": run.latent_dim,
        "complexity": run.complexity,
    }
    if run.arch == "vit":
        vit = config["model"]["vit"]
        settings.update(
            patch_size=vit["patch_size"][run.dataset],
            mask_ratio=run.mask_ratio,
            recon_loss_on=vit["recon_loss_on"],
            classify_from=vit["classify_from"],
        )
    return settings
