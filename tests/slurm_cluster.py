"""A private one-node SLURM cluster (Debian's slurmctld, slurmd and munge) for the workflow's cluster test.

Everything lives in one temporary folder: its own munge key and socket, its own slurm.conf (pointed to by
``SLURM_CONF``), free ports, state and spool folders, and one node with the machine's CPUs and a fake GPU
(a GRES whose device is a plain file), so that the training rule's ``--gpus`` request is scheduled as on a
real GPU partition. Nothing outside the folder is touched; ``stop()`` kills the daemons.

A real cluster keeps its configuration in /etc/slurm; this one does not, and Snakemake's SLURM job-step
executor removes every ``SLURM_*`` variable (``SLURM_CONF`` too) before its inner ``srun``. So ``env`` also puts
a two-line ``srun`` shim first on PATH that sets ``SLURM_CONF`` again and runs the real ``srun``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
APT_PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")


def missing_tools() -> list[str]:
    return [d for d in DAEMONS if not (shutil.which(d) or Path("/usr/sbin", d).exists())]


def _tool(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 1024
    return 4000


def _check(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {res.stderr or res.stdout}")


class Cluster:
    def __init__(self, folder: Path, cpus: int | None = None):
        self.dir = folder
        self.cpus = cpus or os.cpu_count() or 2
        self.procs: list[subprocess.Popen] = []
        self.conf = folder / "slurm.conf"
        shim = folder / "bin"
        self.env = {"SLURM_CONF": str(self.conf), "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}

    def start(self, timeout: float = 60) -> "Cluster":
        d = self.dir
        for sub in ("state", "spool", "log", "munge", "bin"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        srun = d / "bin" / "srun"
        srun.write_text(f"#!/bin/sh\nSLURM_CONF={self.conf} exec {_tool('srun')} \"$@\"\n")
        srun.chmod(0o755)
        key = d / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        sock = d / "munge" / "munge.socket"
        _check([_tool("munged"), "--force", f"--socket={sock}", f"--key-file={key}",
                   f"--pid-file={d / 'munge' / 'munged.pid'}", f"--log-file={d / 'log' / 'munged.log'}",
                f"--seed-file={d / 'munge' / 'seed'}"])
        host = socket.gethostname()
        ctl, node = _free_port(), _free_port()
        fake = d / "fake-gpu0"  # a regular file stands in for the device node
        fake.write_text("")
        (d / "gres.conf").write_text(f"AutoDetect=off\nNodeName={host} Name=gpu File={fake}\n")
        self.conf.write_text("\n".join([
            "ClusterName=mafrgtest", f"SlurmctldHost={host}", f"SlurmctldPort={ctl}", f"SlurmdPort={node}",
            "SlurmUser=root", "SlurmdUser=root", f"AuthInfo=socket={sock}", "AuthType=auth/munge",
            "CredType=cred/munge", f"StateSaveLocation={d / 'state'}", f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={d / 'slurmctld.pid'}", f"SlurmdPidFile={d / 'slurmd.pid'}",
            f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}", f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory", "GresTypes=gpu",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/backfill", "ReturnToService=2", "SlurmctldTimeout=30", "SlurmdTimeout=30",
            "InactiveLimit=0", "KillWait=5", "MinJobAge=3600",  # finished jobs stay visible to scontrol
            f"NodeName={host} CPUs={self.cpus} RealMemory={_mem_mb()} Gres=gpu:1 State=UNKNOWN",
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        env = os.environ | self.env
        self.procs.append(subprocess.Popen([_tool("slurmctld"), "-D", "-i", "-f", str(self.conf)], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen([_tool("slurmd"), "-D", "-f", str(self.conf)], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run([_tool("sinfo"), "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated"):
                return self
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"the test SLURM cluster did not come up in {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((self.dir / "log").glob("*.log")))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        pid = self.dir / "munge" / "munged.pid"
        if pid.is_file():
            try:
                os.kill(int(pid.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
