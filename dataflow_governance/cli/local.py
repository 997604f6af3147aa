"""`dfg local status|start|stop`: the embedded services a project runs on by default (and the local
Spark server, when the warehouse is Spark without a remote)."""

from __future__ import annotations

from dataflow_governance.cli import render
from dataflow_governance.cli.common import emit
from dataflow_governance.dagster_ext.parts import warehouse_of


def register(subparsers, common) -> None:
    """The `local` family's commands and options."""
    p = subparsers.add_parser("local", parents=[common], help="the embedded services: status, start, stop")
    p.add_argument("action", choices=["status", "start", "stop"])
    p.set_defaults(handler="local:cmd_local")


def _local_spark_home(project):
    """The directory of the project's own Spark server, when the warehouse is Spark without a remote."""
    return project.warehouse_path if project.warehouse.kind == "spark" and not project.warehouse.dsn else None


def local_status(project) -> dict:
    from dataflow_governance.local import s3 as local_s3
    from dataflow_governance.local import spark as local_spark

    endpoint = local_s3.read_endpoint(project.state_dir)
    home = _local_spark_home(project)
    spark = {"spark_local_running": local_spark.running(home) is not None} if home else {}
    return {
        "warehouse": warehouse_of(project).describe(),
        "s3_endpoint_url": project.object_store.endpoint_url or (endpoint.url if endpoint else None),
        "s3_local_running": endpoint is not None,
        "mlflow_tracking_uri": project.mlflow_tracking_uri,
        "state_dir": str(project.state_dir),
        **spark,
    }


def cmd_local(args, project) -> int:
    from dataflow_governance.local import s3 as local_s3
    from dataflow_governance.local import spark as local_spark

    home = _local_spark_home(project)
    if args.action == "stop":
        stopped = local_s3.stop(project.state_dir)
        spark = local_spark.stop(home) if home else False
        text = "local S3 endpoint stopped" if stopped else "local S3 endpoint was not running"
        emit(args, {"stopped": stopped, "spark_stopped": spark}, text + ("; local Spark server stopped" if spark else ""))
        return 0
    if args.action == "start":
        local_s3.ensure_running(project.state_dir)
        if home:
            local_spark.ensure_running(home)
    status = local_status(project)
    emit(args, status, render.key_values(status))
    return 0
