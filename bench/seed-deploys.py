#!/usr/bin/env python3
"""Fill a Wharf SQLite store with N finished deploys, fast (for benchmarks only).

Usage: seed-deploys.py DATA_DIR/wharf.db N

Running N real deploys would take hours; this writes the rows a deploy leaves — a `deploy`
row with its JSON record (three stages, a package, the previous version), and one
`deploy_node` row per node of the last stage — directly, in one transaction. The store
must exist (any `wharf` command on the data directory creates it). Environments, states
and times vary the way a busy fleet's history does: mostly succeeded, some failed,
refused and cancelled. No audit entries are written: nothing here is a real change, and
the benchmarks that use it read deploys, not the audit log.
"""
import datetime
import json
import sqlite3
import sys

ENVIRONMENTS = ["gstg", "gprd-cny", "gprd", "dev"]
NODES = [f"web{n:02d}" for n in range(1, 9)]


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(idx, start):
    env = ENVIRONMENTS[idx % len(ENVIRONMENTS)]
    state = "succeeded"
    if idx % 17 == 0:
        state = "failed"
    elif idx % 29 == 0:
        state = "refused"
    elif idx % 43 == 0:
        state = "cancelled"
    stages = []
    at = start
    for stage_idx, (name, kind) in enumerate(
        [("prepare", "check"), ("install", "install"), ("restart", "restart")]
    ):
        ran = state != "refused"
        took = datetime.timedelta(seconds=3 + (idx + stage_idx) % 40)
        stage_state = "succeeded" if ran else "skipped"
        if state == "failed" and stage_idx == 2:
            stage_state = "failed"
        stages.append(
            {
                "name": name,
                "kind": kind,
                "state": stage_state,
                "nodes": {"succeeded": len(NODES) if ran else 0, "failed": 0, "skipped": 0},
                "point_of_no_return": kind == "install",
                "started_at": stamp(at) if ran else None,
                "finished_at": stamp(at + took) if ran else None,
            }
        )
        at += took
    version = f"11.{idx // 1000}.{idx % 1000}"
    previous = f"11.{(idx - 1) // 1000}.{(idx - 1) % 1000}"
    return env, state, {
        "environment": env,
        "pipeline": "default",
        "packages": {"gitlab-ee": version},
        "previous": {"gitlab-ee": previous},
        "state": state,
        "started_by": "deployer",
        "via": "cli",
        "automated": idx % 3 == 0,
        "overrides": [],
        "warnings": [],
        "stages": stages,
        "started_at": stamp(start),
        "finished_at": stamp(at),
        "reason": "stage restart failed on web03" if state == "failed" else None,
        "issue": None,
    }


def main():
    db_path, n = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(db_path)
    first = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    with db:
        for idx in range(1, n + 1):
            start = first + datetime.timedelta(minutes=30 * idx)
            env, state, body = record(idx, start)
            cur = db.execute(
                "INSERT INTO deploy (environment, state, started_at, finished_at, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (env, state, body["started_at"], body["finished_at"], json.dumps(body)),
            )
            if state != "refused":
                last = body["stages"][-1]
                for node in NODES:
                    db.execute(
                        "INSERT INTO deploy_node (deploy_id, stage, node, state, exit_code,"
                        " output_tail, started_at, finished_at) VALUES (?, 2, ?, ?, 0, '', ?, ?)",
                        (cur.lastrowid, node, "succeeded", last["started_at"], last["finished_at"]),
                    )
    print(n)


if __name__ == "__main__":
    main()
