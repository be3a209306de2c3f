"""A throwaway one-node SLURM cluster for tests, inside a network namespace of its own.

Tests of the SLURM executor submit real jobs with the real ``sbatch`` to a real ``slurmctld``
and ``slurmd`` (Debian's ``slurm-wlm``); nothing of SLURM is mocked.

- :func:`ensure_slurm_installed`: ``None`` when the commands are there, else installs them
  with apt-get (root only) or says why it cannot.
- :class:`SlurmCluster`: a context manager that writes a ``slurm.conf`` for one node (this
  machine, all its CPUs, its memory minus 1 GiB, one partition ``ngff-test``, the default),
  starts munged (only when none answers), slurmctld and slurmd, waits until the node is idle
  and stops all of it on exit.
- fixture ``slurm_cluster`` (session): a started cluster, or a skip saying why there is none.
  Import it as ``from slurm_cluster import slurm_cluster_fixture  # noqa: F401``.

Rules these keep: slurmctld binds 0.0.0.0 whatever its configuration says, so every daemon
runs in a network namespace this module creates (held open by a ``sleep``), where only the
loopback device exists (with a second address, 127.0.0.2, without which SLURM's getaddrinfo
finds no IPv4 at all); client commands (``sbatch``, ``squeue``, snakemake) must run in it too:
:meth:`SlurmCluster.command` prefixes an argv with the ``nsenter`` call, :meth:`SlurmCluster.run`
runs it with :attr:`SlurmCluster.env` (``SLURM_CONF``). slurmd also has a mount namespace of its
own, where the configuration folder is mounted over ``/etc/slurm``: snakemake's jobstep plugin
drops ``SLURM_CONF`` before the ``srun`` it runs inside each job. munged talks over a unix socket
and works from outside. Configuration, state, spool, logs and pid files live in one temporary
folder, removed on exit, with every process this module started; every wait is bounded.

Memory is scheduled (``select/cons_tres`` with ``CR_Core_Memory``: ``sbatch --mem`` beyond the
node's RealMemory is refused) and enforced, in one of two ways (:attr:`memory_enforcement`):

- ``"cgroup"``: ``task/cgroup`` with ``ConstrainRAMSpace``, as most sites run it; the kernel's
  OOM killer stops a job that goes over ``--mem`` and SLURM records ``OUT_OF_MEMORY`` for the
  step that ran out: the job's state is ``OUT_OF_MEMORY`` when that step is the batch script,
  ``FAILED`` when it is an ``srun`` step (as in snakemake's jobs), since the script goes on and
  exits non-zero. Needs a cgroup v1 memory controller (SLURM 22.05 on cgroup v2 wants systemd).
  The cluster's cgroups live in a cgroup of its own under this process's: slurmd runs in a
  cgroup namespace rooted there, the controller mounted in its mount namespace.
- ``"jobacct"``: no cgroups; ``jobacct_gather/linux`` samples memory every second and, with
  ``JobAcctGatherParams=OverMemoryKill``, kills a step over its limit; the job ends ``FAILED``
  (never ``OUT_OF_MEMORY``) and the job's output says ``exceeded memory limit``.

``"auto"`` (the fixture's) takes cgroup where there is a cgroup v1 memory controller and root
holds CAP_SYS_RESOURCE, else jobacct. Without CAP_SYS_RESOURCE slurmstepd cannot set its
oom_score_adj to -1000; it then sits in the job's cgroup as fair game for the OOM killer,
and a job whose slurmstepd was killed stays RUNNING for ever (seen with snakemake jobs at
``mem_mb=100``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Commands the cluster needs: SLURM's and munge's, then the rest (util-linux, iproute2).
REQUIRED_COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "munged")
OTHER_COMMANDS = ("munge", "unmunge", "sinfo", "scancel", "unshare", "nsenter", "ip")
APT_PACKAGES = ("slurm-wlm", "munge", "iproute2")
# Daemons live in /usr/sbin, which a non-login PATH may lack.
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# Not "debug" or another common name: a profile that named a partition would be refused here.
PARTITION = "ngff-test"
# Where SLURM looks for slurm.conf without SLURM_CONF (Debian's packages own the folder).
ETC_SLURM = "/etc/slurm"
# The namespace is new, so every port in it is free; these differ from SLURM's defaults (6817,
# 6818) so that a client that missed the namespace fails instead of reaching another cluster.
SLURMCTLD_PORT = 16817
SLURMD_PORT = 16818
# getaddrinfo(AI_ADDRCONFIG), which SLURM uses, finds no IPv4 while 127.0.0.1 is the only
# address; a second loopback address (inside the namespace) makes it resolve 127.0.0.1.
EXTRA_LOOPBACK = "127.0.0.2/8"
# Memory left to the machine itself: RealMemory = MemTotal - this.
RESERVED_MB = 1024
# Seconds; the snakemake SLURM plugin polls squeue at intervals growing to 180 s and takes a job
# missing from squeue for one still pending (it waits forever), so a finished job must stay
# listed longer than that. Also at least 3x --slurm-init-seconds-before-status-checks, or the
# plugin switches from squeue to sacct (which fails without an accounting database).
MIN_JOB_AGE = 200

_PR_SET_PDEATHSIG = 1
_CAP_SYS_RESOURCE = 24
_OK_STATES = {"idle"}
# Job states after which a job runs no more.
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)


class SlurmClusterUnavailable(RuntimeError):
    """This machine cannot host the cluster (a reason to skip, not a test failure)."""


@dataclass(frozen=True)
class SubmittedJob:
    """A job the controller accepted; ``name``/``state`` are None once it knows no more."""

    job_id: int
    name: str | None
    state: str | None


def _which(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=path)


def _path(name: str) -> str:
    """The full path of a command (sbin folders included), else the name as it is."""
    return _which(name) or name


def _missing(names: Sequence[str]) -> list[str]:
    return [name for name in names if _which(name) is None]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_slurm_installed(timeout: float = 900.0) -> str | None:
    """None when SLURM and munge are installed (installing them if root with apt-get can).

    Otherwise the reason they are not, for ``pytest.skip``.
    """
    missing = _missing(REQUIRED_COMMANDS + OTHER_COMMANDS)
    if not missing:
        return None
    what = f"SLURM test cluster: {', '.join(missing)} not installed"
    if os.geteuid() != 0:
        return f"{what}, and installing needs root"
    apt = _which("apt-get")
    if apt is None:
        return f"{what}, and there is no apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    deadline = time.monotonic() + timeout
    for argv in ([apt, "update"], [apt, "install", "-y", *APT_PACKAGES]):
        left = deadline - time.monotonic()
        try:
            done = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=max(left, 1.0),
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
            return f"{what}; {' '.join(argv)} timed out:\n{_tail(out)}"
        if done.returncode != 0:
            return f"{what}; {' '.join(argv)} failed ({done.returncode}):\n{_tail(done.stdout)}"
    missing = _missing(REQUIRED_COMMANDS + OTHER_COMMANDS)
    if missing:
        return f"SLURM test cluster: {', '.join(missing)} still missing after apt-get install"
    return None


def _die_with_parent(sig: int = signal.SIGKILL, cgroup: Path | None = None):
    """A preexec_fn: the child gets ``sig`` when this process dies (no orphaned daemons);
    and moves into ``cgroup`` (a cgroup v1 folder), if given."""

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    return preexec


def _short_hostname() -> str:
    """The node name SLURM derives from this machine: ``hostname -s``."""
    try:
        done = subprocess.run(
            ["hostname", "-s"], capture_output=True, text=True, timeout=10, check=True
        )
        name = done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    return name or socket.gethostname().split(".")[0]


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def own_memory_cgroup() -> Path | None:
    """This process's cgroup v1 memory folder, if there is one it may write to."""
    try:
        cgroups = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    # v1 lines read "N:memory:/path"; the v2 line reads "0::/path".
    paths = [line.split(":", 2)[2] for line in cgroups if line.split(":")[1:2] == ["memory"]]
    if not paths:
        return None
    for line in mounts:
        before, _, after = line.partition(" - ")
        fields, fstype = before.split(), after.split()
        if len(fstype) < 3 or fstype[0] != "cgroup" or "memory" not in fstype[2].split(","):
            continue
        relative = os.path.relpath(paths[0], fields[3])
        if relative.startswith(".."):
            continue
        folder = Path(fields[4]) / relative
        if folder.is_dir() and os.access(folder, os.W_OK):
            return folder
    return None


def can_protect_slurmstepd() -> bool:
    """Whether processes may lower their oom_score_adj (CAP_SYS_RESOURCE), as slurmstepd does
    (to -1000) so that the OOM killer never picks it instead of a job's processes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> _CAP_SYS_RESOURCE & 1)
    return False


def _netns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


class SlurmCluster:
    """One slurmctld and one slurmd on this machine, in a network namespace of their own.

    Use as a context manager (or :meth:`start`/:meth:`stop`). Client commands must go through
    :meth:`command` or :meth:`run`, with :attr:`env` in their environment.

    ``memory_enforcement``: ``"auto"`` (cgroup where possible, else jobacct), ``"cgroup"`` or
    ``"jobacct"`` (see the module's docstring). ``start_munged``: None starts a private munged
    (socket, key and logs in the temporary folder) only when ``munge -n | unmunge`` fails.
    """

    def __init__(
        self,
        *,
        memory_enforcement: str = "auto",
        start_munged: bool | None = None,
        min_job_age: int = MIN_JOB_AGE,
        start_timeout: float = 60.0,
        lifetime: int = 6 * 3600,
    ) -> None:
        if memory_enforcement not in ("auto", "cgroup", "jobacct"):
            raise ValueError(f"memory_enforcement {memory_enforcement!r}")
        self.memory_enforcement = memory_enforcement
        self.start_munged = start_munged
        self.min_job_age = min_job_age
        self.start_timeout = start_timeout
        # Seconds the namespace holder lives at most, should stop() never run.
        self.lifetime = lifetime
        self.node = _short_hostname()
        self.cpus = os.cpu_count() or 1
        self.real_memory_mb = 0
        self.tmp: Path | None = None
        self.conf: Path | None = None
        self.env: dict[str, str] = {}
        self.munge_socket: Path | None = None
        self._holder: subprocess.Popen[bytes] | None = None
        self._holder_ns = ""
        self._munged: subprocess.Popen[bytes] | None = None
        self._slurmctld: subprocess.Popen[bytes] | None = None
        self._slurmd: subprocess.Popen[bytes] | None = None
        self._cgroup: Path | None = None

    # -- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if os.geteuid() != 0:
            raise SlurmClusterUnavailable("SLURM test cluster: needs root (daemons run as root)")
        missing = _missing(REQUIRED_COMMANDS + OTHER_COMMANDS)
        if missing:
            raise SlurmClusterUnavailable(f"SLURM test cluster: {', '.join(missing)} missing")
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix="slurm-cluster-"))
            # munged wants every folder above its socket searchable by all.
            self.tmp.chmod(0o755)
            for sub in ("etc", "state", "spool", "log", "run"):
                (self.tmp / sub).mkdir()
            self.real_memory_mb = _mem_total_mb() - RESERVED_MB
            self._start_namespace()
            self._start_munge()
            self._write_config()
            self._start_daemons()
            self._wait_until_idle()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop jobs, daemons, munged (if ours) and the namespace; remove the temporary folder."""
        with contextlib.suppress(Exception):
            self._cancel_jobs()
        _stop_process(self._slurmd)
        _stop_process(self._slurmctld)
        self._kill_namespace_processes()
        self._remove_cgroups()
        _stop_process(self._munged)
        _stop_process(self._holder, timeout=5.0)
        self._slurmd = self._slurmctld = self._munged = self._holder = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # -- client side ------------------------------------------------------------------------

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the cluster's network namespace."""
        if self._holder is None:
            raise RuntimeError("SLURM test cluster not started")
        return [
            _path("nsenter"),
            f"--net=/proc/{self._holder.pid}/ns/net",
            "--",
            *argv,
        ]

    def client_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment without SLURM job variables, plus :attr:`env`."""
        drop = ("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_", "SINFO_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env.update(self.env)
        env.update(extra or {})
        return env

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """``subprocess.run`` of ``argv`` in the namespace; ``env`` (if given) adds to
        :meth:`client_env`; ``timeout`` defaults to 120 s; no output capture unless asked."""
        kwargs["env"] = self.client_env(kwargs.get("env"))
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.command(argv), **kwargs)

    def logs(self, lines: int = 40) -> str:
        """The last lines of each daemon's log, for failure messages."""
        if self.tmp is None:
            return "(SLURM test cluster stopped: no logs)"
        parts = []
        for path in sorted((self.tmp / "log").iterdir()):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name} (last {lines} lines)\n{_tail(text, lines)}")
        return "\n".join(parts)

    def finished_jobs(self) -> dict[int, dict[str, str]]:
        """Jobs that ended, by id, as the job-completion log has them (``JobState``,
        ``Name``, ``ExitCode``, ...): kept after squeue forgets a job (MinJobAge)."""
        if self.tmp is None:
            return {}
        path = self.tmp / "log" / "jobcomp.txt"
        jobs: dict[int, dict[str, str]] = {}
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                fields = dict(re.findall(r"(\w+)=(\S*)", line))
                if fields.get("JobId", "").isdigit():
                    jobs[int(fields["JobId"])] = fields
        return jobs

    def squeue(self) -> dict[int, dict[str, str]]:
        """Every job squeue still lists (states all): ``{id: {"name", "state", "reason"}}``."""
        done = self.run(
            ["squeue", "--noheader", "--states=all", "--format=%i|%j|%T|%r"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"squeue failed: {done.stderr}\n{self.logs()}")
        jobs = {}
        for line in done.stdout.splitlines():
            job_id, name, state, reason = (line.split("|") + ["", "", ""])[:4]
            if job_id.strip().isdigit():
                jobs[int(job_id)] = {"name": name, "state": state, "reason": reason}
        return jobs

    def wait_job(self, job_id: int, timeout: float = 60.0) -> str:
        """Poll (every 0.25 s, at most ``timeout`` s) until the job ended; its final state.

        Quicker than ``sbatch --wait`` (10 s here for a job done 2 s after submission).
        """
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            queued = self.squeue()
            if job_id in queued:
                state = queued[job_id]["state"]
                if state in FINAL_STATES:
                    return state
            elif job_id in self.finished_jobs():
                return self.finished_jobs()[job_id].get("JobState", "")
            time.sleep(0.25)
        raise TimeoutError(f"job {job_id} still {state or 'unknown'} after {timeout} s")

    def submitted_jobs(self) -> list[SubmittedJob]:
        """Batch jobs the controller accepted, in order, from its log
        (``_slurm_rpc_submit_batch_job: JobId=N``, which names no job name); name and state
        from the job-completion log once a job ended, else from squeue."""
        if self.tmp is None:
            return []
        path = self.tmp / "log" / "slurmctld.log"
        log = path.read_text(errors="replace") if path.exists() else ""
        ids = [int(m) for m in re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", log)]
        finished = self.finished_jobs()
        queued: dict[int, dict[str, str]] = {}
        if any(job_id not in finished for job_id in ids):
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                queued = self.squeue()
        jobs = []
        for job_id in ids:
            if job_id in finished:
                name, state = finished[job_id].get("Name"), finished[job_id].get("JobState")
            elif job_id in queued:
                name, state = queued[job_id]["name"], queued[job_id]["state"]
            else:
                name = state = None
            jobs.append(SubmittedJob(job_id, name, state))
        return jobs

    # -- internals --------------------------------------------------------------------------

    def _start_namespace(self) -> None:
        assert self.tmp is not None
        mode = self.memory_enforcement
        parent = own_memory_cgroup()
        if mode == "auto":
            mode = "cgroup" if parent and can_protect_slurmstepd() else "jobacct"
        if mode == "cgroup":
            if parent is None:
                raise SlurmClusterUnavailable(
                    "SLURM test cluster: no cgroup v1 memory controller to write to"
                )
            # A cgroup of this cluster's own, so that clusters side by side do not share the
            # job cgroups SLURM names after job ids (job_1, ...).
            self._cgroup = parent / f"ngff-{self.tmp.name}"
            self._cgroup.mkdir()
        self.memory_enforcement = mode
        flags = ["--net", "--mount", "--propagation", "private"]
        unshare = _path("unshare")
        self._holder = subprocess.Popen(
            [unshare, *flags, "sleep", str(self.lifetime)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent(),
        )
        deadline = time.monotonic() + 10
        while True:
            if self._holder.poll() is not None:
                err = self._holder.stderr.read().decode() if self._holder.stderr else ""
                raise SlurmClusterUnavailable(f"SLURM test cluster: unshare failed: {err}")
            with contextlib.suppress(OSError):
                comm = Path(f"/proc/{self._holder.pid}/comm").read_text().strip()
                if comm == "sleep" and _netns(self._holder.pid) != _netns("self"):
                    break
            if time.monotonic() > deadline:
                raise SlurmClusterUnavailable("SLURM test cluster: unshare did not start in 10 s")
            time.sleep(0.02)
        self._holder_ns = _netns(self._holder.pid)
        for argv in (
            [_path("ip"), "link", "set", "lo", "up"],
            [_path("ip"), "addr", "add", EXTRA_LOOPBACK, "dev", "lo"],
        ):
            done = subprocess.run(self.command(argv), capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                raise SlurmClusterUnavailable(
                    f"SLURM test cluster: {' '.join(argv)} in the namespace failed: {done.stderr}"
                )
        # The snakemake jobstep plugin drops SLURM_CONF before its srun, which then reads
        # /etc/slurm/slurm.conf: in slurmd's mount namespace (and so in its jobs') that is ours.
        if not Path(ETC_SLURM).is_dir():
            raise SlurmClusterUnavailable(f"SLURM test cluster: no {ETC_SLURM} to mount over")
        argv = [_path("mount"), "--bind", str(self.tmp / "etc"), ETC_SLURM]
        done = subprocess.run([*self._ns_all(), *argv], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise SlurmClusterUnavailable(
                f"SLURM test cluster: {' '.join(argv)} in the namespace failed: {done.stderr}"
            )

    def _ns_all(self) -> list[str]:
        """nsenter into the holder's network and mount namespaces (for slurmd, hence its jobs,
        and for the mounts)."""
        assert self._holder is not None
        pid = self._holder.pid
        nsenter = _path("nsenter")
        return [nsenter, f"--net=/proc/{pid}/ns/net", f"--mount=/proc/{pid}/ns/mnt", "--"]

    def _munge_works(self, sock: Path | None = None) -> bool:
        opt = ["--socket", str(sock)] if sock else []
        try:
            cred = subprocess.run(
                [_path("munge"), "-n", *opt], capture_output=True, text=True, timeout=10
            )
            if cred.returncode != 0:
                return False
            check = subprocess.run(
                [_path("unmunge"), *opt],
                input=cred.stdout,
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return check.returncode == 0

    def _start_munge(self) -> None:
        assert self.tmp is not None
        own = self.start_munged if self.start_munged is not None else not self._munge_works()
        if not own:
            return
        sock_dir, key_dir = self.tmp / "munge", self.tmp / "munge-key"
        sock_dir.mkdir(mode=0o755)
        key_dir.mkdir(mode=0o700)
        key = key_dir / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(128))
        sock = sock_dir / "munge.socket"
        log = self.tmp / "log" / "munged.log"
        argv = [
            _path("munged"),
            "--foreground",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={key_dir / 'munged.pid'}",
            f"--seed-file={key_dir / 'munged.seed'}",
            f"--log-file={log}",
        ]
        with (self.tmp / "log" / "munged.stderr").open("wb") as stderr:
            self._munged = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )
        deadline = time.monotonic() + 15
        while not self._munge_works(sock):
            if self._munged.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"munged did not start\n{self.logs()}")
            time.sleep(0.1)
        self.munge_socket = sock

    def _write_config(self) -> None:
        assert self.tmp is not None
        tmp = self.tmp
        cgroup = self.memory_enforcement == "cgroup"
        lines = [
            "ClusterName=ngfftest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={SLURMCTLD_PORT}",
            f"SlurmdPort={SLURMD_PORT}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            *([f"AuthInfo=socket={self.munge_socket}"] if self.munge_socket else []),
            f"StateSaveLocation={tmp / 'state'}",
            f"SlurmdSpoolDir={tmp / 'spool'}",
            f"SlurmctldPidFile={tmp / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={tmp / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={tmp / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={tmp / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # The host's /etc/slurm/plugstack.conf is no business of this cluster.
            f"PlugStackConfig={tmp / 'etc' / 'plugstack.conf'}",
            "MailProg=/bin/true",
            "MpiDefault=none",
            "ProctrackType=proctrack/linuxproc",
            f"TaskPlugin={'task/cgroup' if cgroup else 'task/none'}",
            "JobAcctGatherType=jobacct_gather/linux",
            "JobAcctGatherFrequency=task=1",
            f"JobAcctGatherParams={'NoOverMemoryKill' if cgroup else 'OverMemoryKill'}",
            "AccountingStorageType=accounting_storage/none",
            # Final state of every job, kept after squeue forgets it (finished_jobs()).
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={tmp / 'log' / 'jobcomp.txt'}",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            # Without it a job without --mem gets the whole node and jobs run one at a time.
            "DefMemPerCPU=256",
            f"MinJobAge={self.min_job_age}",
            # Seconds between SIGTERM and SIGKILL when a step is killed (default 30), and so
            # how long an srun whose step was killed for memory waits (KillWait + 2).
            "KillWait=5",
            "ReturnToService=2",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.real_memory_mb} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
        ]
        (tmp / "etc" / "plugstack.conf").write_text("")
        self.conf = tmp / "etc" / "slurm.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        if cgroup:
            # SLURM reads cgroup.conf from the folder of slurm.conf.
            (tmp / "etc" / "cgroup.conf").write_text(
                "CgroupPlugin=cgroup/v1\n"
                f"CgroupMountpoint={tmp / 'cgroup'}\n"
                "ConstrainRAMSpace=yes\n"
                "ConstrainSwapSpace=no\n"
            )
        self.env = {"SLURM_CONF": str(self.conf)}

    def _spawn(
        self, name: str, argv: list[str], cgroup: Path | None = None
    ) -> subprocess.Popen[bytes]:
        assert self.tmp is not None
        with (self.tmp / "log" / f"{name}.stderr").open("wb") as stderr:
            return subprocess.Popen(
                argv,
                env=self.client_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent(signal.SIGTERM, cgroup),
            )

    def _start_daemons(self) -> None:
        conf = str(self.conf)
        ctld = self.command([_path("slurmctld"), "-D", "-f", conf])
        self._slurmctld = self._spawn("slurmctld", ctld)
        slurmd = [_path("slurmd"), "-D", "-N", self.node, "-f", conf]
        if self._cgroup is None:
            self._slurmd = self._spawn("slurmd", [*self._ns_all(), *slurmd])
            return
        # slurmd starts in this cluster's cgroup, makes a cgroup namespace rooted there and
        # mounts the memory controller (in the holder's mount namespace) where cgroup.conf
        # says: SLURM's cgroups (slurm_<node>/uid_0/job_N/step_M) land in this cluster's.
        assert self.tmp is not None
        mount = self.tmp / "cgroup" / "memory"
        mount.mkdir(parents=True)
        script = f'{shlex.quote(_path("mount"))} -t cgroup -o memory ngff-slurm "$0" && exec "$@"'
        unshare = _path("unshare")
        argv = [*self._ns_all(), unshare, "--cgroup", "--", _path("sh"), "-c", script, str(mount)]
        self._slurmd = self._spawn("slurmd", [*argv, *slurmd], cgroup=self._cgroup)

    def _wait_until_idle(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        state = ""
        while time.monotonic() < deadline:
            for name, proc in (("slurmctld", self._slurmctld), ("slurmd", self._slurmd)):
                if proc is None or proc.poll() is not None:
                    raise RuntimeError(f"{name} exited while starting\n{self.logs()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                done = self.run(
                    ["sinfo", "--noheader", "--Node", "--nodes", self.node, "--format=%T"],
                    capture_output=True,
                    text=True,
                    timeout=15,
                )
                state = done.stdout.strip().rstrip("*~#!%$@^-")
                if done.returncode == 0 and state in _OK_STATES:
                    return
            time.sleep(0.25)
        raise RuntimeError(
            f"node {self.node} not idle after {self.start_timeout} s (last state {state!r})\n"
            f"{self.logs()}"
        )

    def _cancel_jobs(self) -> None:
        if self._slurmctld is None or self._slurmctld.poll() is not None:
            return
        self.run(["scancel", f"--partition={PARTITION}"], capture_output=True, timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            done = self.run(
                ["squeue", "--noheader", "--format=%i"], capture_output=True, text=True, timeout=15
            )
            if done.returncode != 0 or not done.stdout.strip():
                return
            time.sleep(0.25)

    def _kill_namespace_processes(self) -> None:
        """SIGKILL what is left in the namespace (slurmstepd, job processes): all of it was
        started by this cluster. Never when the namespace is this process's own."""
        if self._holder is None or not self._holder_ns or self._holder_ns == _netns("self"):
            return
        for _ in range(20):
            left = []
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) == self._holder.pid:
                    continue
                with contextlib.suppress(OSError):
                    if _netns(entry.name) == self._holder_ns:
                        left.append(int(entry.name))
            if not left:
                return
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def _remove_cgroups(self) -> None:
        """Remove this cluster's cgroup and what slurmd left in it (all empty by now)."""
        if self._cgroup is None:
            return
        for _ in range(20):
            for folder, _dirs, _files in os.walk(self._cgroup, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            if not self._cgroup.exists():
                break
            time.sleep(0.1)
        self._cgroup = None


@pytest.fixture(scope="session", name="slurm_cluster")
def slurm_cluster_fixture() -> Iterator[SlurmCluster]:
    """A started :class:`SlurmCluster` shared by the session, or a skip saying why not."""
    reason = ensure_slurm_installed()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster()
    try:
        cluster.start()
    except SlurmClusterUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()
