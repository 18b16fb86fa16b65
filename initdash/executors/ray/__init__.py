"""The Ray executor: each unit of a sweep (one initializer's runs) is one Ray generator task on a cluster.

    cluster.py     on the cluster: the generator task that trains a unit and yields its events as they happen
    driver.py      on the driver: RayExecutor, the executor the program uses (submits, follows, cancels)
    connecting.py  which cluster (Ray's address rule), its token, a local instance on 127.0.0.1, version check
    quiet.py       Ray's messages go to initdash's log file, never the terminal
    diagnosis.py   what a Ray error means for a unit, in one line

Importing this package does not import Ray: `RayExecutor.connect` does (the dashboard paints before it loads).
"""

from initdash.executors.ray.driver import RayExecutor

__all__ = ["RayExecutor"]
