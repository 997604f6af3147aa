"""The deep water project's Definitions: what `dagster dev` and `dfg` load."""

from __future__ import annotations

import dagster as dg

from dataflow_governance.dagster_ext import governed_definitions
from resources import dagster_resources, project

from . import analytics, commerce, finance, messaging, ml, orders_log, platform, registration, sagas, support, workspaces

ALL_ASSETS = dg.load_assets_from_modules([registration, analytics, commerce, orders_log, sagas, support, messaging,
                                           platform, ml, workspaces, finance])

defs = governed_definitions(project(), ALL_ASSETS, resources=dagster_resources())
