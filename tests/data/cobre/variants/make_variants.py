"""Rebuild the variant cases of this folder from the unchanged Cobre examples beside it.

Each variant exercises features the shipped examples leave idle; its expected
cost was measured with Cobre 0.5.1 (see ../README.md). Run from this folder
with caudal importable (it writes caudal's opening tree into the stochastic
variants, which Cobre then reads too): ``python make_variants.py``.
"""

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from caudal.hydro import cobre

HERE = Path(__file__).parent
EXAMPLES = HERE.parent


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def stats(path: Path, key: str, columns: tuple[str, str], values: tuple[float, float], stages: int) -> None:
    table = pa.table({
        key: pa.array([0] * stages, pa.int32()),
        "stage_id": pa.array(range(stages), pa.int32()),
        columns[0]: [values[0]] * stages,
        columns[1]: [values[1]] * stages,
    })
    pq.write_table(table, path, compression="zstd")


def mixed_features() -> None:
    """d04 with a cascade, soft outflow/turbining/generation/storage limits, plant penalties, two blocks,
    load factors, deficit segments, a thermal minimum and a 10% discount rate."""
    case = HERE / "mixed-features"
    shutil.copytree(EXAMPLES / "deterministic" / "d04-transmission", case)

    def hydros(data):
        upper, lower = data["hydros"]
        upper["downstream_id"] = 1
        upper["reservoir"]["min_storage_hm3"] = 10.0
        upper["outflow"].update(min_outflow_m3s=5.0, max_outflow_m3s=45.0)
        upper["generation"].update(min_turbined_m3s=2.0, min_generation_mw=1.0)
        lower["penalties"] = {"spillage_cost": 0.5}

    def stages(data):
        data["policy_graph"]["annual_discount_rate"] = 0.1
        for stage in data["stages"]:
            stage["blocks"] = [{"id": 0, "name": "A", "hours": 300}, {"id": 1, "name": "B", "hours": 430}]

    edit(case / "system/hydros.json", hydros)
    edit(case / "system/thermals.json", lambda d: d["thermals"][0]["generation"].update(min_mw=2.0))
    edit(case / "stages.json", stages)
    edit(case / "system/buses.json", lambda d: d["buses"][0].update(
        deficit_segments=[{"depth_mw": 5.0, "cost": 300.0}, {"depth_mw": None, "cost": 2000.0}]))
    (case / "scenarios/load_factors.json").write_text(json.dumps({"load_factors": [{
        "bus_id": 1, "stage_id": 0,
        "block_factors": [{"block_id": 0, "factor": 0.7}, {"block_id": 1, "factor": 1.3}]}]}, indent=2) + "\n")


def negative_inflows(name: str, method: str, plant_penalty: float | None = None) -> None:
    """1dtoy with 3 openings, inflows of mean 5 and std 10 m3/s (often negative) and the given treatment."""
    case = HERE / name
    shutil.copytree(EXAMPLES / "1dtoy", case)
    edit(case / "stages.json", lambda d: [s.update(num_scenarios=3) for s in d["stages"]])

    def config(data):
        data["modeling"]["inflow_non_negativity"] = {"method": method, "penalty_cost": 0.5}
        data["training"]["stopping_rules"][0]["limit"] = 400
        data["training"]["forward_passes"] = 4
        data["simulation"] = {"enabled": False}

    edit(case / "config.json", config)
    if plant_penalty is not None:
        edit(case / "system/hydros.json", lambda d: d["hydros"][0].update(
            penalties={"inflow_nonnegativity_cost": plant_penalty}))
    stats(case / "scenarios/inflow_seasonal_stats.parquet", "hydro_id", ("mean_m3s", "std_m3s"), (5.0, 10.0), 4)
    study = cobre.load_case(case)
    cobre.write_noise_openings(case / "scenarios/noise_openings.parquet", study.noise)


if __name__ == "__main__":
    for old in HERE.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
    mixed_features()
    negative_inflows("negative-inflows-penalty", "penalty")
    negative_inflows("negative-inflows-truncation", "truncation")
    negative_inflows("negative-inflows-plant-penalty", "penalty", plant_penalty=2.0)
