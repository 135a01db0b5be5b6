"""A single-node SLURM cluster on this machine, for the integration test.

`SlurmCluster.start()` installs Debian's `slurm-wlm` and `munge` when they are
missing, writes a slurm.conf for this host (one node that declares one GPU as a
generic resource backed by /dev/null, so GPU requests can be scheduled on a
machine without a GPU), and starts munged (unless one already answers),
slurmctld and slurmd. `stop()` cancels the cluster's jobs and stops exactly the
daemons `start()` started, through their process handles, and removes the
configuration files it wrote. Anything that makes the cluster impossible here
(not root, no apt, a SLURM installation of the host's own) raises
`ClusterUnavailable` with the reason, which the test turns into a skip.

The configuration goes to /etc/slurm because the executor plugin's job step
(snakemake-executor-plugin-slurm-jobstep) clears SLURM_* variables, SLURM_CONF
included, before it calls `srun` inside a job, so `srun` reads the default path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONFIG_DIR = Path("/etc/slurm")
MARK = "# written by tests/slurm_cluster.py for the integration test; removed after"
PACKAGES = {"slurmctld": "slurm-wlm", "slurmd": "slurm-wlm", "munged": "munge"}
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
POLICY_RC = Path("/usr/sbin/policy-rc.d")


class ClusterUnavailable(RuntimeError):
    """This machine cannot host the test cluster; the message says why."""


def _run(*args: str, timeout: float = 30, check: bool = True) -> str:
    result = subprocess.run(
        args, text=True, capture_output=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


def _wait_for(what: str, ready, timeout: float = 60, log: Path | None = None):
    """Poll `ready()` until it returns a true value; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tail}")


def _install_packages() -> None:
    """apt-get install the Debian packages of the missing daemons.

    Package scripts must not start services (the test starts its own daemons):
    where no policy-rc.d says so already, one that forbids it is in place for the
    duration of the install.
    """
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if not shutil.which(cmd)})
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise ClusterUnavailable(f"{', '.join(missing)} missing and no apt-get here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", *missing]
    policy = None if POLICY_RC.exists() else POLICY_RC
    if policy:
        policy.write_text(
            "#!/bin/sh\n# no service starts during the test install\nexit 101\n"
        )
        policy.chmod(0o755)
    try:
        # Try the cached package lists first; refresh them once if that fails.
        for attempt in ([install], [["apt-get", "update", "-qq"], install]):
            results = [
                subprocess.run(
                    cmd, env=env, capture_output=True, text=True, timeout=900
                )
                for cmd in attempt
            ]
            if all(r.returncode == 0 for r in results):
                return
    finally:
        if policy:
            policy.unlink(missing_ok=True)
    raise ClusterUnavailable(
        f"apt-get install {' '.join(missing)} failed: {results[-1].stderr[-500:]}"
    )


def _running_commands() -> set[str]:
    """Names of the processes running on this host (from /proc)."""
    names = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            names.add(comm.read_text().strip())
        except OSError:  # the process ended meanwhile
            continue
    return names


def _munge_answers() -> bool:
    """True when a munged answers on the default socket (credential round trip)."""
    if not shutil.which("munge"):
        return False
    encode = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if encode.returncode != 0:
        return False
    decode = subprocess.run(
        ["unmunge"], input=encode.stdout, capture_output=True, timeout=10
    )
    return decode.returncode == 0


def _node_line() -> str:
    """This host as `slurmd -C` sees it (CPUs, sockets, memory), plus one GPU."""
    for line in _run("slurmd", "-C").splitlines():
        if line.startswith("NodeName="):
            return f"{line.strip()} NodeAddr=127.0.0.1 Gres=gpu:1 State=UNKNOWN"
    raise RuntimeError("slurmd -C printed no NodeName line")


class SlurmCluster:
    """munged, slurmctld and slurmd for one node, state and logs under `workdir`."""

    def __init__(self, workdir: Path, kill_wait: int = 5, min_job_age: int = 900):
        self.workdir = Path(workdir)
        self.kill_wait = kill_wait
        self.min_job_age = min_job_age
        self.host = socket.gethostname()
        self.partition = "gpu"
        self.daemons: dict[str, subprocess.Popen] = {}
        self.written: list[Path] = []

    # ------------------------------------------------------------ start

    def start(self) -> SlurmCluster:
        """Install, configure and start; on any failure stop what was started."""
        if os.name != "posix" or os.geteuid() != 0:
            raise ClusterUnavailable("needs root (the SLURM daemons run as root)")
        _install_packages()
        self._refuse_foreign_slurm()
        try:
            self._write_config()
            self._start_munge()
            self._start_slurm()
        except BaseException:
            self.stop()
            raise
        return self

    def _refuse_foreign_slurm(self) -> None:
        """Never touch a SLURM that this module did not set up."""
        for name in ("slurm.conf", "gres.conf"):
            conf = CONFIG_DIR / name
            if conf.exists() and MARK not in conf.read_text():
                raise ClusterUnavailable(
                    f"{conf} exists and belongs to this host's own SLURM; the test "
                    "sets up its own cluster only where there is none"
                )
        if {"slurmctld", "slurmd"} & _running_commands():
            raise ClusterUnavailable("slurmctld or slurmd already runs on this host")

    def _write_config(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        w = self.workdir
        slurm_conf = f"""{MARK}
ClusterName=cretest
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait={self.kill_wait}
MinJobAge={self.min_job_age}
InactiveLimit=0
StateSaveLocation={w / "state"}
SlurmdSpoolDir={w / "spool"}
SlurmctldPidFile={w / "slurmctld.pid"}
SlurmdPidFile={w / "slurmd.pid"}
SlurmctldLogFile={w / "log" / "slurmctld.log"}
SlurmdLogFile={w / "log" / "slurmd.log"}
{_node_line()}
PartitionName={self.partition} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        files = {
            "slurm.conf": slurm_conf,
            "gres.conf": f"{MARK}\nName=gpu File=/dev/null\n",
        }
        CONFIG_DIR.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = CONFIG_DIR / name
            path.write_text(text)
            self.written.append(path)

    def _spawn(self, name: str, args: list[str], **kwargs) -> None:
        log = open(self.workdir / "log" / f"{name}.out", "w")  # noqa: SIM115
        self.daemons[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, **kwargs
        )
        log.close()

    def _start_munge(self) -> None:
        """Reuse a munged that answers; else start one as the munge user."""
        if _munge_answers():
            return
        if not MUNGE_KEY.exists():
            _run("mungekey", "--create", "--keyfile", str(MUNGE_KEY))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o400)
        MUNGE_RUN.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_RUN, "munge", "munge")
        self._spawn("munged", ["munged", "--foreground"], user="munge", group="munge")
        _wait_for("munged", _munge_answers, log=self.workdir / "log" / "munged.out")

    def _start_slurm(self) -> None:
        conf = str(CONFIG_DIR / "slurm.conf")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", conf])
        _wait_for(
            "slurmctld",
            lambda: "UP" in _run("scontrol", "ping", check=False),
            log=self.workdir / "log" / "slurmctld.log",
        )
        self._spawn("slurmd", ["slurmd", "-D", "-f", conf])
        _wait_for(
            f"node {self.host}",
            lambda: self.node_state() in ("idle", "mixed", "allocated"),
            log=self.workdir / "log" / "slurmd.log",
        )

    # ------------------------------------------------------------ queries

    def node_state(self) -> str:
        return _run("sinfo", "-h", "-N", "-o", "%T", check=False).strip()

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job the controller remembers: id -> state, comment, name."""
        out = _run("squeue", "-h", "--states=all", "-o", "%i|%T|%k|%j")
        jobs = {}
        for line in out.splitlines():
            job_id, state, comment, name = line.split("|", 3)
            jobs[job_id] = {"state": state, "comment": comment, "name": name}
        return jobs

    def show_job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict of its KEY=VALUE fields."""
        out = _run("scontrol", "show", "job", "-o", job_id)
        fields = {}
        for token in out.split():
            key, _, value = token.partition("=")
            fields[key] = value
        return fields

    def cancel(self, job_id: str) -> None:
        _run("scancel", job_id)

    # ------------------------------------------------------------ stop

    def stop(self) -> None:
        """Cancel the jobs, stop the daemons started here, remove written files."""
        try:
            self._cancel_all_jobs()
        finally:
            for name in ("slurmd", "slurmctld", "munged"):
                process = self.daemons.pop(name, None)
                if process is None or process.poll() is not None:
                    continue
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            for path in self.written:
                path.unlink(missing_ok=True)
            self.written.clear()

    def _cancel_all_jobs(self) -> None:
        """scancel what still runs (jobs of this cluster only) and wait for it."""
        controller = self.daemons.get("slurmctld")
        if controller is None or controller.poll() is not None:
            return
        busy = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
        active = [i for i, job in self.jobs().items() if job["state"] in busy]
        if active:
            _run("scancel", *active, check=False)
            _wait_for(
                "job cancellation",
                lambda: not any(j["state"] in busy[1:] for j in self.jobs().values()),
                timeout=self.kill_wait + 30,
            )
