"""The workflow's plan: runs, the bundles that train them, paths and fingerprints.

A *bundle* is the unit of work of the per-run stages (train, evaluate, geometry,
probes): up to `train.pack_size` runs that share dataset, arch, latent_dim,
complexity and mask_ratio, trained by one job (one SLURM submission), each run
keeping its own output directory.

Bundle membership is recorded once, in `<results_dir>/bundles/<id>.json`, and never
changed afterwards. Runs that are new to a study (a λ or seed added) go into new
bundles, so adding runs never retrains finished ones; a bundle reruns only when
something that affects all of its runs changes (settings of their group, or code).
The files are small and safe to delete: runs are then regrouped, and runs whose
outputs are complete stay complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from cremodels.catalog import ARCH_NAMES
from cremodels.config import Run, expand_runs, model_settings, train_settings
from cremodels.fingerprint import PACKAGE_DIR, code_digests, settings_digest
from cremodels.io import write_json

log = logging.getLogger(__name__)

# Files of a run directory, by the stage that writes them.
RUN_FILES = {
    "train": {"model": "model.pt", "history": "history.csv", "info": "run.json"},
    "evaluate": {
        "metrics": "metrics.json",
        "latents": "latents.npz",
        "examples": "examples.npz",
    },
    "geometry": {"geometry": "geometry.json", "angles": "geometry_angles.csv"},
    "probes": {"probes": "probes.json"},
}


class PlanError(RuntimeError):
    """The bundle registry cannot be read; the message says which file and why."""


@dataclass(frozen=True)
class Bundle:
    id: str
    runs: tuple[Run, ...]

    @property
    def group(self) -> Run:
        """A representative run: every run of a bundle shares its group settings."""
        return self.runs[0]


def _bundle_id(runs: list[Run]) -> str:
    first = runs[0]
    digest = hashlib.sha256("\n".join(r.name for r in runs).encode()).hexdigest()[:8]
    return f"{first.group.replace('/', '-')}-{digest}"


def _read_registry(directory: Path) -> dict[str, list[Run]]:
    bundles = {}
    for path in sorted(directory.glob("*.json")):
        try:
            with open(path) as f:
                bundles[path.stem] = [Run(**r) for r in json.load(f)["runs"]]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise PlanError(
                f"bundle registry file {path} is unreadable ({err}); delete it "
                "(finished runs stay finished; unfinished ones are regrouped)"
            ) from err
    return bundles


def _new_bundles(runs: list[Run], pack_size: int, finished) -> dict[str, list]:
    """Bundles for runs no bundle holds yet: grouped by what they share (and by
    whether their training outputs already exist, so a finished run is never
    bundled with one that still has to train), chunked seed by seed."""
    new = {}
    ordered = sorted(runs, key=lambda r: (r.group, r.name in finished, r.seed, r.lam))
    for _, members in itertools.groupby(
        ordered, key=lambda r: (r.group, r.name in finished)
    ):
        members = list(members)
        for start in range(0, len(members), pack_size):
            chunk = members[start : start + pack_size]
            new[_bundle_id(chunk)] = chunk
    return new


def assign_bundles(
    runs: list[Run],
    registry: Path,
    pack_size: int,
    finished=frozenset(),
    record: bool = True,
) -> list[Bundle]:
    """Bundles covering `runs`: registered ones first, new ones for new runs.

    New bundles are recorded in `registry` unless `record` is false or the
    directory cannot be written (a read-only results directory: then they are
    planned in memory, with a warning).
    """
    try:
        if not record:
            raise PermissionError("not recording (read-only plan)")
        registry.mkdir(parents=True, exist_ok=True)
        lock = open(registry / ".lock", "w")  # noqa: SIM115 - held below
    except OSError as err:
        if record:
            log.warning(
                "bundle registry %s is not writable (%s); planning new "
                "bundles in memory only",
                registry,
                err,
            )
        bundles = _read_registry(registry) if registry.is_dir() else {}
        known = {run.name for members in bundles.values() for run in members}
        fresh = [r for r in runs if r.name not in known]
        bundles.update(_new_bundles(fresh, pack_size, finished))
    else:
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            bundles = _read_registry(registry)
            known = {run.name for members in bundles.values() for run in members}
            fresh = [r for r in runs if r.name not in known]
            for bundle_id, chunk in _new_bundles(fresh, pack_size, finished).items():
                write_json(
                    registry / f"{bundle_id}.json",
                    {"runs": [r.as_dict() for r in chunk]},
                )
                bundles[bundle_id] = chunk
    wanted = {run.name for run in runs}
    return [
        Bundle(bundle_id, tuple(members))
        for bundle_id, members in sorted(bundles.items())
        if any(run.name in wanted for run in members)
    ]


class Plan:
    """Everything the Snakemake rules need, computed once from a validated config."""

    def __init__(self, config: dict, workflow_dir: Path, record: bool = True):
        self.config = config
        self.workflow_dir = Path(workflow_dir)
        self.results = Path(config["results_dir"])
        self.runs = expand_runs(config)
        self._run_files: dict[tuple[Run, str], dict[str, str]] = {}
        self._prepared: dict[str, str] = {}
        finished = {
            run.name
            for run in self.runs
            if Path(self.run_files(run, "train")["info"]).is_file()
        }
        self.bundles = assign_bundles(
            self.runs,
            self.results / "bundles",
            config["train"]["pack_size"],
            finished,
            record,
        )
        self.datasets = sorted({r.dataset for r in self.runs})
        self._code: dict[tuple, dict[str, str]] = {}

    # ------------------------------------------------------------ paths

    def prepared(self, dataset: str) -> str:
        """The prepared tensor file: its name carries a digest of what decides its
        content (split settings, checksums and the preparation code), so studies
        with different splits never overwrite each other's, and changed preparation
        code makes a new file rather than re-making this one under training that
        reads it as `ancient` (see rules/train.smk)."""
        if dataset not in self._prepared:  # every bundle's rules ask
            identity = {
                "data": self.data_identity(dataset),
                "code": self.code("prepare_data.py"),
            }
            digest = settings_digest(identity)[:8]
            root = Path(self.config["data"]["root"])
            self._prepared[dataset] = str(root / "prepared" / f"{dataset}-{digest}.pt")
        return self._prepared[dataset]

    def run_dir(self, run: Run) -> Path:
        return self.results / "runs" / run.name

    def run_files(self, run: Run, stage: str) -> dict[str, str]:
        # cached: the rules ask for every run's files several times while planning
        key = (run, stage)
        if key not in self._run_files:
            run_dir = self.run_dir(run)
            self._run_files[key] = {
                file: str(run_dir / name) for file, name in RUN_FILES[stage].items()
            }
        return dict(self._run_files[key])

    def bundle_files(self, bundle: Bundle, stage: str) -> dict[str, dict[str, str]]:
        """Output paths of a bundle's stage: run name -> file key -> path."""
        return {run.name: self.run_files(run, stage) for run in bundle.runs}

    def bundle_outputs(self, bundle: Bundle, stage: str) -> list[str]:
        return [
            p
            for files in self.bundle_files(bundle, stage).values()
            for p in files.values()
        ]

    def log(self, stage: str, name: str) -> str:
        return str(self.results / "logs" / stage / f"{name}.log")

    def checkpoint(self, bundle: Bundle) -> str:
        return str(self.results / "checkpoints" / f"{bundle.id}.pt")

    def all_run_files(self, stage: str, key: str) -> list[str]:
        return [self.run_files(run, stage)[key] for run in self.runs]

    def every_run_file(self) -> list[str]:
        """Every file of every run of the config, whatever stage writes it.

        The workflow asks for all of them: Snakemake does not rebuild a missing
        file that no job it runs needs (a deleted model.pt below an up-to-date
        summary, a training killed after its old outputs were removed), but it
        always rebuilds a missing target.
        """
        return [
            path
            for run in self.runs
            for stage in RUN_FILES
            for path in self.run_files(run, stage).values()
        ]

    # ------------------------------------------------------------ fingerprints

    def code(self, script: str, arch: str | None = None) -> dict[str, str]:
        """Per-file digests of a workflow script and the package code it imports;
        with `arch`, the model modules of the other architectures are left out,
        so editing the ViT never retrains a CNN."""
        key = (script, arch)
        if key not in self._code:
            others = (
                [
                    PACKAGE_DIR / "models" / f"{name}.py"
                    for name in ARCH_NAMES
                    if name != arch
                ]
                if arch
                else []
            )
            path = self.workflow_dir / "workflow_scripts" / script
            self._code[key] = code_digests(path, exclude=others)
        return self._code[key]

    def data_identity(self, dataset: str) -> dict:
        """What decides a prepared dataset's content (not where raw files live)."""
        data = self.config["data"]
        return {
            "name": dataset,
            "checksums": data["sources"].get(dataset, {}).get("checksums", {}),
            "val_fraction": data["val_fraction"],
            "split_seed": data["split_seed"],
        }

    def data_settings(self, dataset: str) -> dict:
        """Everything the prepare step needs: the identity, plus where raw files are."""
        data = self.config["data"]
        return {
            **self.data_identity(dataset),
            "raw_dir": data["sources"].get(dataset, {}).get("raw_dir"),
            "download": data["download"],
        }

    def train_settings(self, bundle: Bundle) -> dict:
        return train_settings(self.config, bundle.group)

    def model_settings(self, bundle: Bundle) -> dict:
        return model_settings(self.config, bundle.group)

    def fingerprint_parts(
        self, stage: str, settings, script: str, arch: str | None = None
    ) -> dict:
        """What a stage's result depends on besides its input files: the settings
        it reads and the code it runs (recorded with its outputs for `explain`)."""
        return {"stage": stage, "settings": settings, "code": self.code(script, arch)}

    def fingerprint(
        self, stage: str, settings, script: str, arch: str | None = None
    ) -> str:
        """The rule parameter that reruns a stage exactly when its parts change."""
        parts = self.fingerprint_parts(stage, settings, script, arch)
        return (
            f"{stage}-{settings_digest(parts['settings'])}"
            f"-{settings_digest(parts['code'])}"
        )

    def train_fingerprint_parts(self, bundle: Bundle) -> dict:
        settings = {
            "data": self.data_identity(bundle.group.dataset),
            "model": self.model_settings(bundle),
            "train": self.train_settings(bundle),
        }
        return self.fingerprint_parts("train", settings, "train.py", bundle.group.arch)

    def train_fingerprint(self, bundle: Bundle) -> str:
        parts = self.train_fingerprint_parts(bundle)
        return self.fingerprint(
            "train", parts["settings"], "train.py", bundle.group.arch
        )

    def evaluate_fingerprint_parts(self, bundle: Bundle) -> dict:
        return self.fingerprint_parts(
            "evaluate", self.config["evaluate"], "evaluate.py", bundle.group.arch
        )

    def evaluate_fingerprint(self, bundle: Bundle) -> str:
        return self.fingerprint(
            "evaluate", self.config["evaluate"], "evaluate.py", bundle.group.arch
        )

    def geometry_fingerprint_parts(self, bundle: Bundle) -> dict:
        return self.fingerprint_parts(
            "geometry", self.config["geometry"], "geometry.py"
        )

    def geometry_fingerprint(self, bundle: Bundle) -> str:
        return self.fingerprint("geometry", self.config["geometry"], "geometry.py")

    def probes_fingerprint_parts(self, bundle: Bundle) -> dict:
        return self.fingerprint_parts(
            "probes", self.config["probes"], "probes.py", bundle.group.arch
        )

    def probes_fingerprint(self, bundle: Bundle) -> str:
        return self.fingerprint(
            "probes", self.config["probes"], "probes.py", bundle.group.arch
        )

    # ------------------------------------------------------------ job payloads

    def _named_runs(self, bundle: Bundle) -> list[dict]:
        return [{**run.as_dict(), "name": run.name} for run in bundle.runs]

    def train_job(self, bundle: Bundle) -> dict:
        train = self.config["train"]
        return {
            "runs": self._named_runs(bundle),
            "outputs": self.bundle_files(bundle, "train"),
            "model_settings": self.model_settings(bundle),
            "train_settings": self.train_settings(bundle),
            "vectorize": train["vectorize"],
            "device": train["device"],
            "deterministic": train["deterministic"],
            "checkpoint": self.checkpoint(bundle),
            "fingerprint": self.train_fingerprint(bundle),
            "fingerprint_parts": self.train_fingerprint_parts(bundle),
            "threads": self.config["resources"]["train"]["threads"],
            "eval_batch_size": self.config["evaluate"]["batch_size"],
        }

    def evaluate_job(self, bundle: Bundle) -> dict:
        evaluate = self.config["evaluate"]
        return {
            "models": {
                run.name: self.run_files(run, "train")["model"] for run in bundle.runs
            },
            "outputs": self.bundle_files(bundle, "evaluate"),
            "batch_size": evaluate["batch_size"],
            "train_latents": evaluate["train_latents"],
            "examples": evaluate["examples"],
            "device": self.config["train"]["device"],
            "threads": self.config["resources"]["evaluate"]["threads"],
            "fingerprint_parts": self.evaluate_fingerprint_parts(bundle),
        }

    def geometry_job(self, bundle: Bundle) -> dict:
        geometry = self.config["geometry"]
        return {
            "latents": {
                run.name: self.run_files(run, "evaluate")["latents"]
                for run in bundle.runs
            },
            "outputs": self.bundle_files(bundle, "geometry"),
            "silhouette_samples": geometry["silhouette_samples"],
            "probe_max_iter": geometry["probe_max_iter"],
            "fingerprint_parts": self.geometry_fingerprint_parts(bundle),
        }

    def probes_job(self, bundle: Bundle) -> dict:
        return {
            "models": {
                run.name: self.run_files(run, "train")["model"] for run in bundle.runs
            },
            "latents": {
                run.name: self.run_files(run, "evaluate")["latents"]
                for run in bundle.runs
            },
            "outputs": {
                run.name: self.run_files(run, "probes")["probes"] for run in bundle.runs
            },
            "settings": self.config["probes"],
            "device": self.config["train"]["device"],
            "deterministic": self.config["train"]["deterministic"],
            "threads": self.config["resources"]["probes"]["threads"],
            "fingerprint_parts": self.probes_fingerprint_parts(bundle),
        }
