"""A fake slurm for running the sbatch templates of slurm/ on one machine, in tests.

What it does, and where it differs from slurm:

* ``sbatch`` reads ``#SBATCH`` lines and command-line options (the latter win),
  gives the job an id, copies the script to a spool folder (so ``$0`` is not the
  original path, as on a real cluster) and queues it. The outermost ``sbatch``
  (the one a test calls) then runs the queue *synchronously* until it is empty:
  each job whose dependencies (``afterany``, ``afterok``, ``afternotok``) have
  ended, one at a time, each array task in turn. A job that submits another
  (a resubmission chain) only queues it; it runs once its dependencies allow.
* The batch shell gets the ``SLURM_*`` variables slurm would give it (job id,
  name, tasks, cpus per task, nodes, array ids, submit dir, ``SLURM_PROCID=0``)
  and runs in the submit directory, its output in ``--output`` (``%j %A %a %x``).
* ``--signal=[B:]SIG@SECONDS``: when ``FAKE_SLURM_SIGNAL_AFTER`` is set, SIG is
  sent that many seconds after the job's first ``srun`` step starts, or after
  its output shows the text ``FAKE_SLURM_SIGNAL_ONCE_LOGGED`` if that is set (a
  test's clock, not SECONDS before a walltime, which the fake does not
  enforce): to the batch shell with ``B:``, else to the job's running ``srun``
  steps. With ``FAKE_SLURM_SIGNAL_JOBS=N``, only the first N job runs get it
  (a requeued job runs again: so that a resubmission or requeue chain ends);
  the text is looked for in what this run wrote (a requeued job appends).
* ``srun`` runs ``mpiexec -n TASKS`` on this machine (MPICH's hydra with the
  fork launcher so that it does not itself call srun, or Open MPI's with
  ``--oversubscribe``, whichever is beside Python or on PATH), sets the step variables
  (``SLURM_STEP_NUM_TASKS``, ``SLURM_PROCID`` per task...), refuses a step larger
  than the allocation, forwards SIGUSR1/SIGUSR2/SIGTERM/SIGINT to the tasks and
  ignores binding options (``--cpu-bind``).
* ``scontrol show job ID`` prints the fields the templates read (``Command=``...).
* ``scontrol requeue ID`` puts a job back in the queue with the options it was
  submitted with, as slurm does: a running job's batch shell gets SIGTERM (so a
  template must not count on lines after it) and runs again once it has ended,
  with ``SLURM_RESTART_COUNT`` one higher. Like a site with ``JobRequeue=0``,
  the fake refuses to requeue a job submitted without ``--requeue``.

State lives in ``$FAKE_SLURM_STATE`` (default ``./.fake-slurm``): one JSON file
per job, ``jobs.log`` with one line per job run (id, exit status),
``commands.jsonl`` with every ``sbatch`` and ``scontrol`` command line (and the
job it ran in), and ``runs.jsonl`` with the options every job run had, for tests.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

FIRST_JOB_ID = 1001
RUNNER = "FAKE_SLURM_RUNNER"  # set in a job's environment: sbatch calls inside it only queue


def state_dir() -> Path:
    path = Path(os.environ.get("FAKE_SLURM_STATE", ".fake-slurm")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(program: str, words: list[str]) -> None:
    """Note a command line and the job it ran in, for tests to check what a template asked slurm for."""
    entry = {"program": program, "args": words, "in_job": os.environ.get("SLURM_JOB_ID")}
    with open(state_dir() / "commands.jsonl", "a") as log:
        log.write(json.dumps(entry) + "\n")


def die(program: str, message: str, status: int = 1) -> None:
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(status)


# ----------------------------------------------------------------------------------------------- options

SBATCH_OPTIONS = {  # long name -> short letter (None: no short form); every option takes a value
    "array": "a", "job-name": "J", "ntasks": "n", "nodes": "N", "ntasks-per-node": None, "cpus-per-task": "c",
    "time": "t", "signal": None, "dependency": "d", "output": "o", "error": "e", "export": None, "partition": "p",
    "account": "A", "mem": None, "mem-per-cpu": None, "open-mode": None, "chdir": "D", "qos": "q",
    "exclusive": None, "requeue": None, "kill-on-invalid-dep": None, "parsable": None, "hint": None,
    "mail-type": None, "mail-user": None, "constraint": "C", "gres": None, "wait": "W",
}
FLAGS = {"exclusive", "requeue", "parsable", "wait"}
SRUN_OPTIONS = {
    "ntasks": "n", "nodes": "N", "ntasks-per-node": None, "cpus-per-task": "c", "cpu-bind": None, "mpi": None,
    "export": None, "label": "l", "kill-on-bad-exit": "K", "exclusive": None, "hint": None, "distribution": "m",
    "overlap": None, "job-name": "J", "unbuffered": "u", "mem-bind": None,
}
SRUN_FLAGS = {"label", "exclusive", "overlap", "unbuffered", "kill-on-bad-exit"}


def parse_options(words: list[str], known: dict, flags: set, program: str) -> tuple[dict, list[str]]:
    """Options up to the first non-option word; returns them and the remaining words."""
    shorts = {short: name for name, short in known.items() if short}
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return options, words[i + 1:]
        if not word.startswith("-") or word == "-":
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
        else:
            letter = word[1:2]
            name, value, eq = shorts.get(letter, ""), word[2:], "=" if word[2:] else ""
            if not name:
                die(program, f"unrecognised option {word!r} (the fake knows {', '.join(sorted(shorts))})")
        if name not in known:
            die(program, f"unrecognised option --{name} (the fake knows {', '.join(sorted(known))})")
        if name in flags:
            options[name] = value or "yes"
        elif eq:
            options[name] = value
        else:
            i += 1
            if i >= len(words):
                die(program, f"option --{name} needs a value")
            options[name] = words[i]
        i += 1
    return options, words[i:]


def script_directives(script: Path) -> list[str]:
    """The words of the ``#SBATCH`` lines before the first command."""
    words: list[str] = []
    for line in script.read_text().splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#SBATCH"):
            words.extend(shlex.split(stripped[len("#SBATCH"):], comments=False))
        elif stripped and not stripped.startswith("#"):
            break
    return words


def parse_array(spec: str) -> list[int]:
    """``0-3``, ``1,4,7``, ``0-15:4``, with an optional ``%limit`` (ignored: tasks run one at a time)."""
    indices: list[int] = []
    for part in spec.split("%")[0].split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part)
        if not match:
            die("sbatch", f"bad --array {spec!r}")
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        step = int(match[3]) if match[3] else 1
        indices.extend(range(first, last + 1, step))
    return indices


def task_count(options: dict) -> int:
    if "ntasks" in options:
        return int(options["ntasks"])
    nodes = int(options.get("nodes", "1").split("-")[0])
    return nodes * int(options.get("ntasks-per-node", "1"))


# ----------------------------------------------------------------------------------------------- jobs

def next_job_id(count: int = 1) -> int:
    counter = state_dir() / "next-id"
    with open(counter, "a+") as handle:
        handle.seek(0)
        text = handle.read().strip()
        first = int(text) if text else FIRST_JOB_ID
        handle.seek(0)
        handle.truncate()
        handle.write(str(first + count))
    return first


def job_file(job_id: int) -> Path:
    return state_dir() / f"job-{job_id}.json"


def load_job(job_id: int) -> dict | None:
    path = job_file(job_id)
    return json.loads(path.read_text()) if path.exists() else None


def save_job(job: dict) -> None:
    job_file(job["id"]).write_text(json.dumps(job, indent=1))


def all_jobs() -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in state_dir().glob("job-*.json")), key=lambda j: j["id"])


def submit(words: list[str]) -> dict:
    """Queue the job that ``sbatch WORDS`` describes."""
    command_line, rest = parse_options(words, SBATCH_OPTIONS, FLAGS, "sbatch")
    if not rest:
        die("sbatch", "no batch script given (the fake does not read one from standard input)")
    script = Path(rest[0]).resolve()
    if not script.is_file():
        die("sbatch", f"unable to open file {rest[0]}")
    directives, leftover = parse_options(script_directives(script), SBATCH_OPTIONS, FLAGS, "sbatch")
    if leftover:
        die("sbatch", f"{script}: unexpected words in #SBATCH lines: {leftover}")
    options = {**directives, **command_line}
    indices = parse_array(options["array"]) if "array" in options else [None]
    first = next_job_id(len(indices))
    spool = state_dir() / "spool" / str(first)
    spool.mkdir(parents=True, exist_ok=True)
    spooled = spool / "slurm_script"
    shutil.copy(script, spooled)
    spooled.chmod(0o755)
    job = {
        "id": first, "name": options.get("job-name", script.name), "command": str(script), "spooled": str(spooled),
        "args": rest[1:], "workdir": str(Path(options.get("chdir", os.getcwd())).resolve()),
        "submit_dir": os.getcwd(), "options": options, "indices": indices, "state": "PENDING",
        "exit_codes": {}, "environment": submission_environment(options),
    }
    save_job(job)
    return job


def submission_environment(options: dict) -> dict:
    """The environment the job starts with: ``--export=ALL[,VAR=value...]`` (the default is ALL)."""
    environment = dict(os.environ)
    export = options.get("export", "ALL")
    items = export.split(",")
    if items[0] != "ALL":
        die("sbatch", f"the fake supports --export=ALL[,VAR=value...] only, got {export!r}")
    for item in items[1:]:
        name, eq, value = item.partition("=")
        if eq:
            environment[name] = value  # VAR alone: exported from sbatch's own environment, already there
    return environment


def dependencies_state(job: dict) -> str:
    """``ready``, ``waiting`` or ``never`` (a dependency that cannot be met any more)."""
    spec = job["options"].get("dependency")
    if not spec:
        return "ready"
    for clause in spec.split(","):
        kind, _, ids = clause.partition(":")
        for text in ids.split(":"):
            other = load_job(int(text.split("_")[0]))
            if other is None:
                return "never"
            if other["state"] in ("PENDING", "RUNNING"):
                return "waiting"
            ok = other["state"] == "COMPLETED"
            if (kind == "afterok" and not ok) or (kind == "afternotok" and ok):
                return "never"
            if kind not in ("afterany", "afterok", "afternotok"):
                die("sbatch", f"the fake does not know dependency type {kind!r}")
    return "ready"


def run_queue() -> None:
    """Run every queued job whose dependencies allow, in id order, until none is left."""
    while True:
        runnable, cancelled = None, False
        for job in (job for job in all_jobs() if job["state"] == "PENDING"):
            verdict = dependencies_state(job)
            if verdict == "never":
                job["state"] = "CANCELLED"
                save_job(job)
                log_run(job["id"], None, "CANCELLED (DependencyNeverSatisfied)")
                cancelled = True
            elif verdict == "ready" and runnable is None:
                runnable = job
        if runnable is not None:
            run_job(runnable)
        elif not cancelled:  # a cancellation may doom another job: look again; else nothing can run
            return


def run_job(job: dict) -> None:
    job["state"] = "RUNNING"
    save_job(job)
    codes = {}
    for offset, index in enumerate(job["indices"]):
        job_id = job["id"] + offset
        run = {"job": job_id, "restarts": job.get("restarts", 0), "options": job["options"]}
        with open(state_dir() / "runs.jsonl", "a") as runs:
            runs.write(json.dumps(run) + "\n")
        code = run_batch_shell(job, job_id, index)
        codes[str(job_id)] = code
        log_run(job_id, code, job["name"])
    job = load_job(job["id"])  # scontrol requeue may have marked it while it ran
    job["exit_codes"].update(codes)
    if job.pop("requeue_requested", False):
        job["state"] = "PENDING"
        job["restarts"] = job.get("restarts", 0) + 1
    else:
        job["state"] = "COMPLETED" if all(code == 0 for code in codes.values()) else "FAILED"
    save_job(job)


def log_run(job_id: int, code: int | None, what: str) -> None:
    with open(state_dir() / "jobs.log", "a") as log:
        log.write(f"{job_id} {'-' if code is None else code} {what}\n")


def output_path(job: dict, job_id: int, index: int | None, key: str) -> Path:
    default = "slurm-%A_%a.out" if index is not None else "slurm-%j.out"
    pattern = job["options"].get(key) or job["options"].get("output") or default
    name = (pattern.replace("%j", str(job_id)).replace("%A", str(job["id"]))
            .replace("%a", str(index if index is not None else "")).replace("%x", job["name"]))
    return Path(job["workdir"]) / name


def batch_environment(job: dict, job_id: int, index: int | None) -> dict:
    options = job["options"]
    tasks = task_count(options)
    nodes = int(options.get("nodes", "1").split("-")[0])
    environment = dict(job["environment"])
    environment.update({
        RUNNER: "1", "SLURM_RESTART_COUNT": str(job.get("restarts", 0)),
        "SLURM_JOB_ID": str(job_id), "SLURM_JOBID": str(job_id), "SLURM_JOB_NAME": job["name"],
        "SLURM_SUBMIT_DIR": job["submit_dir"], "SLURM_SUBMIT_HOST": socket.gethostname(),
        "SLURM_NTASKS": str(tasks), "SLURM_NPROCS": str(tasks), "SLURM_JOB_NUM_NODES": str(nodes),
        "SLURM_NNODES": str(nodes), "SLURM_JOB_NODELIST": "localhost", "SLURM_NODELIST": "localhost",
        "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_CLUSTER_NAME": "fake",
        "SLURM_JOB_PARTITION": options.get("partition", "fake"),
        "SLURM_CPUS_ON_NODE": str(tasks * int(options.get("cpus-per-task", "1")) // nodes),
    })
    for name, variable in (("cpus-per-task", "SLURM_CPUS_PER_TASK"), ("ntasks-per-node", "SLURM_NTASKS_PER_NODE")):
        if name in options:
            environment[variable] = options[name]
    if index is not None:
        environment.update({
            "SLURM_ARRAY_JOB_ID": str(job["id"]), "SLURM_ARRAY_TASK_ID": str(index),
            "SLURM_ARRAY_TASK_COUNT": str(len(job["indices"])), "SLURM_ARRAY_TASK_MIN": str(min(job["indices"])),
            "SLURM_ARRAY_TASK_MAX": str(max(job["indices"])),
        })
    return environment


def run_batch_shell(job: dict, job_id: int, index: int | None) -> int:
    out = output_path(job, job_id, index, "output")
    err = output_path(job, job_id, index, "error")
    mode = "a" if job["options"].get("open-mode") == "append" else "w"
    start_size = out.stat().st_size if mode == "a" and out.exists() else 0
    steps = state_dir() / "steps" / f"{job_id}.{job.get('restarts', 0)}"
    steps.mkdir(parents=True, exist_ok=True)
    environment = batch_environment(job, job_id, index)
    environment["FAKE_SLURM_STEPS"] = str(steps)
    with open(out, mode) as stdout, (open(err, mode) if err != out else stdout) as stderr:  # noqa: SIM115
        shell = subprocess.Popen([job["spooled"], *job["args"]], cwd=job["workdir"], env=environment,
                                 stdout=stdout, stderr=stderr)
        job["shell_pid"] = shell.pid
        save_job(job)
        signal_timer(job, shell, steps, out, start_size)
        return shell.wait()


def signal_timer(job: dict, shell: subprocess.Popen, steps: Path, output: Path,
                 start_size: int) -> threading.Thread | None:
    """Emulate ``--signal=[B:]SIG@T``: SIG after ``FAKE_SLURM_SIGNAL_AFTER`` seconds."""
    spec = job["options"].get("signal")
    delay = os.environ.get("FAKE_SLURM_SIGNAL_AFTER")
    signalled_jobs = int(os.environ.get("FAKE_SLURM_SIGNAL_JOBS", "1000000"))
    runs_so_far = len((state_dir() / "runs.jsonl").read_text().splitlines())
    if not spec or delay is None or runs_so_far > signalled_jobs:
        return None
    target, _, rest = spec.rpartition(":")
    name = rest.split("@")[0]
    signum = int(name) if name.isdigit() else getattr(signal, name if name.startswith("SIG") else f"SIG{name}")

    text = os.environ.get("FAKE_SLURM_SIGNAL_ONCE_LOGGED")

    def started() -> bool:
        if text is not None:
            if not output.exists():
                return False
            with open(output, "rb") as handle:
                handle.seek(start_size)
                return text in handle.read().decode(errors="replace")
        return any(steps.glob("*.pid"))

    def send() -> None:
        while not started():
            if shell.poll() is not None:
                return
            time.sleep(0.02)
        time.sleep(float(delay))
        if shell.poll() is not None:
            return
        if target == "B":
            shell.send_signal(signum)
            return
        for pidfile in steps.glob("*.pid"):
            try:
                os.kill(int(pidfile.read_text()), signum)
            except (ProcessLookupError, ValueError):
                pass

    timer = threading.Thread(target=send, daemon=True)
    timer.start()
    return timer


# ----------------------------------------------------------------------------------------------- srun

def find_mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        die("srun", "mpiexec not found: the fake srun runs tasks with MPICH's or Open MPI's mpiexec")
    return found


def mpiexec_words() -> list[str]:
    """How to start tasks on this host alone: Hydra's fork launcher, or Open MPI oversubscribing.

    Open MPI would see the fake's ``SLURM_*`` variables and ask slurm for the
    allocation and to start its daemons: its slurm components are turned off.
    """
    mpiexec = find_mpiexec()
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        return [mpiexec, "--oversubscribe", "--mca", "ras", "^slurm", "--mca", "plm", "^slurm"]
    return [mpiexec, "-launcher", "fork", "-hosts", "localhost"]


def srun(words: list[str]) -> int:
    options, command = parse_options(words, SRUN_OPTIONS, SRUN_FLAGS, "srun")
    if not command:
        die("srun", "no command given")
    if "SLURM_JOB_ID" not in os.environ:
        die("srun", "not inside a (fake) job: submit with sbatch")
    tasks = int(options.get("ntasks") or os.environ.get("SLURM_NTASKS", "1"))
    cpus = int(options.get("cpus-per-task") or os.environ.get("SLURM_CPUS_PER_TASK", "1"))
    allocated = int(os.environ.get("SLURM_NTASKS", "1")) * int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))
    if tasks * cpus > allocated:
        die("srun", f"Unable to create step for job {os.environ['SLURM_JOB_ID']}: More processors requested than "
            f"permitted ({tasks} tasks x {cpus} cpus > {allocated} allocated)")
    environment = dict(os.environ)
    environment.update({
        "SLURM_STEP_NUM_TASKS": str(tasks), "SLURM_NTASKS": str(tasks), "SLURM_NPROCS": str(tasks),
        "SLURM_STEP_ID": str(step_number()), "SLURM_CPUS_PER_TASK": str(cpus),
    })
    if "cpu-bind" in options:
        environment["SLURM_CPU_BIND"] = options["cpu-bind"]
    rank = "${PMI_RANK:-$OMPI_COMM_WORLD_RANK}"  # Hydra's, Open MPI's
    per_task = f'export SLURM_PROCID="{rank}" SLURM_LOCALID="{rank}"; exec "$@"'
    child = subprocess.Popen([*mpiexec_words(), "-n", str(tasks), "sh", "-c", per_task, "task", *command],
                             env=environment)
    register_step()
    for signum in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda s, _frame: child.send_signal(s))
    while True:
        try:
            return child.wait()
        except InterruptedError:
            continue


def step_number() -> int:
    steps = Path(os.environ.get("FAKE_SLURM_STEPS", state_dir()))
    return len(list(steps.glob("*.pid")))


def register_step() -> None:
    """Let ``--signal`` without ``B:`` find this step (this srun, which forwards the signal to its tasks)."""
    steps = os.environ.get("FAKE_SLURM_STEPS")
    if steps:
        (Path(steps) / f"{os.getpid()}.pid").write_text(str(os.getpid()))


# ----------------------------------------------------------------------------------------------- scontrol

def scontrol(words: list[str]) -> int:
    record("scontrol", words)
    if len(words) == 2 and words[0] == "requeue":
        return requeue(words[1])
    if len(words) >= 3 and words[0] == "show" and words[1] == "job":
        job_id = int(words[2].split("_")[0])
        for job in all_jobs():
            if job["id"] <= job_id < job["id"] + len(job["indices"]):
                options = job["options"]
                print(f"JobId={job_id} JobName={job['name']}\n"
                      f"   JobState={job['state']} Requeue={1 if 'requeue' in options else 0}\n"
                      f"   NumNodes={options.get('nodes', '1')} NumTasks={task_count(options)} "
                      f"CPUs/Task={options.get('cpus-per-task', '1')}\n"
                      f"   TimeLimit={options.get('time', 'UNLIMITED')}\n"
                      f"   Command={job['command']}\n"
                      f"   WorkDir={job['workdir']}\n"
                      f"   StdOut={output_path(job, job_id, None, 'output')}")
                return 0
        die("scontrol", f"Invalid job id specified: {words[2]}")
    die("scontrol", f"the fake knows 'show job ID' and 'requeue ID' only, got {' '.join(words)!r}")
    return 1


def requeue(text: str) -> int:
    """Back to the queue with its options; a running batch shell is ended (SIGTERM) as slurm would."""
    job = load_job(int(text)) if text.isdigit() else None
    if job is None or len(job["indices"]) > 1:
        die("scontrol", f"Invalid job id specified: {text} (the fake requeues single jobs only)")
    if "requeue" not in job["options"]:
        die("scontrol", f"Requested operation is presently disabled for job {text} (submitted without --requeue)")
    job["requeue_requested"] = True
    save_job(job)
    if job["state"] == "RUNNING" and job.get("shell_pid"):
        try:
            os.kill(job["shell_pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    elif job["state"] != "RUNNING":
        job["state"], job["restarts"] = "PENDING", job.get("restarts", 0) + 1
        job.pop("requeue_requested")
        save_job(job)
    return 0


def sbatch(words: list[str]) -> int:
    record("sbatch", words)
    job = submit(words)
    if "parsable" in job["options"]:
        print(job["id"], flush=True)
    else:
        print(f"Submitted batch job {job['id']}", flush=True)
    if os.environ.get(RUNNER):
        return 0  # inside a job: the outermost sbatch runs the queue
    run_queue()
    return 0
