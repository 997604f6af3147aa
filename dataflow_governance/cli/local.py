"""`dfg local status|start|stop`: the embedded services a project runs on by default."""

from __future__ import annotations

from . import render
from .common import emit


def local_status(project) -> dict:
    from .. import local_s3

    endpoint = local_s3.read_endpoint(project.state_dir)
    return {
        "warehouse": project.open_warehouse().describe(),
        "s3_endpoint_url": project.object_store.endpoint_url or (endpoint.url if endpoint else None),
        "s3_local_running": endpoint is not None,
        "mlflow_tracking_uri": project.mlflow_tracking_uri,
        "state_dir": str(project.state_dir),
    }


def cmd_local(args, project) -> int:
    from .. import local_s3

    if args.action == "stop":
        stopped = local_s3.stop(project.state_dir)
        emit(args, {"stopped": stopped}, "local S3 endpoint stopped" if stopped else "local S3 endpoint was not running")
        return 0
    if args.action == "start":
        local_s3.ensure_running(project.state_dir)
    status = local_status(project)
    emit(args, status, render.key_values(status))
    return 0
