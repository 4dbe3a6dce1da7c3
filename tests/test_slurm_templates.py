"""The sbatch templates of slurm/ are runnable, not just text.

Each template is submitted, unchanged, through a fake slurm (tests/fake_slurm:
sbatch, srun -> mpiexec, scontrol, with the SLURM_* variables slurm sets) on a
tiny brazil4 study, with the job's size given on the sbatch command line as a
user would. The long training is sent its walltime warning and must requeue
itself and finish with the same policy as a run that never stopped; the
templates that go on after a warning (long training, sweep) must keep every
option the user gave sbatch (account, partition, time, QoS, memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from caudal.profiling.launch import launch_environment

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / "slurm"
FAKE_SLURM = Path(__file__).resolve().parent / "fake_slurm"
TESTED = {"one-node.sh", "multi-node.sh", "long-training.sh", "study-array.sh", "sweep.sh", "scaling.sh"}

STUDY = """\
case = "brazil4"
stages = 3
iterations = {iterations}
forward-passes = {passes}
seed = {seed}
"""


class Cluster:
    """A submit directory on a fake cluster."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state = directory / "slurm-state"
        env = {name: value for name, value in launch_environment().items()
               if not name.startswith(("SLURM_", "FAKE_SLURM_"))}
        env["PATH"] = os.pathsep.join([str(FAKE_SLURM), str(Path(sys.executable).parent), env.get("PATH", "")])
        env["FAKE_SLURM_STATE"] = str(self.state)
        self.env = env

    def study(self, name: str = "study.toml", iterations: int = 4, passes: int = 2, seed: int = 0) -> Path:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STUDY.format(iterations=iterations, passes=passes, seed=seed))
        return path

    def sbatch(self, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(["sbatch", *args], cwd=self.directory, env={**self.env, **(env or {})},
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Submitted batch job "), result.stdout
        return result

    def jobs(self) -> list[tuple[int, int]]:
        """(job id, exit status) of every job run, in order."""
        lines = (self.state / "jobs.log").read_text().split("\n")
        return [(int(line.split()[0]), int(line.split()[1])) for line in lines if line]

    def runs(self) -> list[dict]:
        """Every job run the fake started: job id, restarts, the options it ran with."""
        return [json.loads(line) for line in (self.state / "runs.jsonl").read_text().splitlines()]

    def commands(self) -> list[dict]:
        """Every sbatch and scontrol command line, with the job it ran in (None: the test's own)."""
        return [json.loads(line) for line in (self.state / "commands.jsonl").read_text().splitlines()]

    def output(self, name: str) -> str:
        return (self.directory / name).read_text()

    def summary(self, run: str) -> dict:
        return json.loads((self.directory / run / "summary.json").read_text())


@pytest.fixture
def cluster(tmp_path) -> Cluster:
    return Cluster(tmp_path)


def test_every_template_is_tested_and_well_formed():
    templates = {path.name for path in SLURM.glob("*.sh")}
    assert templates == TESTED, "a template without a test (or a test without its template)"
    for name in templates:
        text = (SLURM / name).read_text()
        assert text.startswith("#!/bin/bash\n"), name
        assert "#SBATCH --job-name=" in text and "#SBATCH --time=" in text, name
        assert subprocess.run(["bash", "-n", str(SLURM / name)]).returncode == 0, name


@pytest.mark.mpi
def test_one_node(cluster):
    cluster.study()
    cluster.sbatch("--ntasks=2", "--cpus-per-task=1", str(SLURM / "one-node.sh"), "study.toml", "runs/one")
    assert cluster.jobs() == [(1001, 0)]
    assert "layout: 2 ranks x 1 thread" in cluster.output("caudal-1001.out")
    assert cluster.summary("runs/one")["iterations"] == 4


@pytest.mark.mpi
def test_multi_node(cluster):
    cluster.study()
    cluster.sbatch("--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1", str(SLURM / "multi-node.sh"),
                   "study.toml", "runs/multi")
    assert cluster.jobs() == [(1001, 0)]
    assert "layout: 2 ranks x 1 thread" in cluster.output("caudal-nodes-1001.out")
    assert cluster.summary("runs/multi")["iterations"] == 4


@pytest.mark.mpi
def test_long_training_checkpoints_at_the_warning_requeues_and_resumes(cluster):
    study = cluster.study(iterations=100000, passes=1)
    study.write_text(study.read_text() + "time-limit = 2.0\n")  # what ends part 2, whatever the machine's speed
    # The first part gets its walltime warning (B:USR1) half a second into its training; the second does not.
    cluster.sbatch("--ntasks=1", "--cpus-per-task=1", str(SLURM / "long-training.sh"), "study.toml", "runs/long",
                   env={"FAKE_SLURM_SIGNAL_AFTER": "0.5", "FAKE_SLURM_SIGNAL_ONCE_LOGGED": "lower bound",
                        "FAKE_SLURM_SIGNAL_JOBS": "1"})
    output = cluster.output("caudal-long-1001.out")
    first, second = output.split("part 2 of the training")
    assert "status: interrupted (SIGUSR1 received)" in first, output
    assert "requeueing job 1001 for part 2" in first
    stopped_at = int(first.split("status: interrupted (SIGUSR1 received) after ")[1].split()[0])
    assert f"after iteration {stopped_at}" in second and "the training in runs/long is finished" in second, second
    assert [job for job, _ in cluster.jobs()] == [1001, 1001] and cluster.jobs()[-1][1] == 0
    resumed = cluster.summary("runs/long")
    assert resumed["iterations"] > stopped_at and resumed["status"] == "time_limit"


# Stands in for caudal in the requeue test: the first part stops as at a walltime warning, the next finishes.
STUB_CAUDAL = """\
#!/bin/bash
echo "stub caudal $* (restart ${SLURM_RESTART_COUNT:-0})"
[ "${SLURM_RESTART_COUNT:-0}" -ge 1 ] && exit 0
[ "$1" = checkpoint ] && exit 1  # no checkpoint before the first part
exit 75
"""
SITE_OPTIONS = ("--account=proj42", "--partition=long", "--time=01:30:00", "--qos=high", "--mem=2G")


@pytest.mark.parametrize("template", ["long-training.sh", "sweep.sh"])
@pytest.mark.mpi
def test_a_requeued_part_keeps_the_options_given_to_sbatch(cluster, template):
    stub = cluster.directory / "stub"
    stub.mkdir()
    (stub / "caudal").write_text(STUB_CAUDAL)
    (stub / "caudal").chmod(0o755)
    cluster.sbatch(*SITE_OPTIONS, "--ntasks=1", "--cpus-per-task=1", str(SLURM / template), "study.toml", "runs/x",
                   env={"PATH": f"{stub}{os.pathsep}{cluster.env['PATH']}"})
    runs = cluster.runs()
    assert [(run["job"], run["restarts"]) for run in runs] == [(1001, 0), (1001, 1)], "one requeue, then done"
    for option in SITE_OPTIONS:
        name, value = option[2:].split("=")
        assert [run["options"].get(name) for run in runs] == [value, value], f"--{name} lost on the second part"
    asked = [(command["program"], command["args"]) for command in cluster.commands() if command["in_job"]]
    assert ("scontrol", ["requeue", "1001"]) in asked
    assert not [args for program, args in asked if program == "sbatch"], "a new submission would drop options"
    assert cluster.jobs()[-1] == (1001, 0)


def test_the_fake_refuses_to_requeue_a_job_submitted_without_requeue(cluster):
    script = cluster.directory / "requeue.sh"
    script.write_text("#!/bin/bash\n#SBATCH --ntasks=1\nscontrol requeue $SLURM_JOB_ID || echo refused\n")
    cluster.sbatch(str(script))
    assert "refused" in cluster.output("slurm-1001.out")
    assert [run["restarts"] for run in cluster.runs()] == [0]


@pytest.mark.mpi
def test_study_array(cluster):
    for seed in (0, 1):
        cluster.study(f"studies/seed{seed}.toml", seed=seed)
    cluster.sbatch("--array=0-1", "--ntasks=1", "--cpus-per-task=1", str(SLURM / "study-array.sh"), "studies")
    assert cluster.jobs() == [(1001, 0), (1002, 0)]
    assert "array task 1: studies/seed1.toml -> runs/seed1" in cluster.output("caudal-studies-1001_1.out")
    digests = {cluster.summary(f"runs/seed{seed}")["policy_digest"] for seed in (0, 1)}
    assert len(digests) == 2, "each array task trains its own study"


@pytest.mark.mpi
def test_sweep_template(cluster):
    (cluster.directory / "sweep.toml").write_text(textwrap.dedent("""\
        case = "brazil4"
        stages = 3
        iterations = 3
        [grid]
        demand_scale = [0.9, 1.1]
        seed = [0, 1]
        """))
    cluster.sbatch("--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", str(SLURM / "sweep.sh"), "sweep.toml",
                   "sweeps/grid", env={"RANKS_PER_VARIANT": "1"})
    assert cluster.jobs() == [(1001, 0)]
    assert "2 groups of 1 rank" in cluster.output("caudal-sweep-1001.out")
    table = pq.read_table(cluster.directory / "sweeps/grid/sweep.parquet").to_pylist()
    assert [row["status"] for row in table] == ["done"] * 4


@pytest.mark.parametrize("way", ["caudal scaling", "loop"])
@pytest.mark.mpi
def test_scaling(cluster, way):
    # `caudal scaling` (one layout here, to keep the suite fast) or the template's own loop over two.
    env = {"RANKS": "2", "THREADS": "1", "OUT": "scaling"}
    if way == "loop":
        env.update(CAUDAL_SCALING="loop", RANKS="1,2")
    cluster.sbatch("--ntasks=2", "--cpus-per-task=1", str(SLURM / "scaling.sh"), "brazil4", "--stages", "3",
                   "--iterations", "2", env=env)
    assert cluster.jobs() == [(1001, 0)]
    log = cluster.output("caudal-scaling-1001.out")
    if way == "loop":
        assert "1x1" in log and "2x1" in log and "speedup" in log
        assert (cluster.directory / "scaling/2x1/summary.json").exists()
    else:
        assert "2x1" in log and (cluster.directory / "scaling/scaling.csv").exists()


@pytest.mark.mpi
def test_a_batch_shell_is_one_process_and_a_step_is_mpi(cluster):
    """caudal run in the batch script itself must not take the allocation's SLURM_NTASKS for an MPI launch."""
    script = cluster.directory / "probe.sh"
    probe = ("from caudal.parallel.comm import launched_by_mpi; "
             "print('launched:' + ('mpi' if launched_by_mpi() else 'single'))")
    script.write_text(f'#!/bin/bash\n#SBATCH --ntasks=2\npython -c "{probe}"\nsrun python -c "{probe}"\n'
                      "srun --ntasks=4 true || echo refused\n")
    cluster.sbatch(str(script))
    text = cluster.output("slurm-1001.out")  # the two ranks' lines may interleave: count words, not lines
    assert text.count("launched:single") == 1 and text.count("launched:mpi") == 2 and "refused" in text, text
