"""The lineage browser (`dfg serve`): a read-only web app over the governance catalog."""
