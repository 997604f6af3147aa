"""`dfg init`: a governed project scaffolded into an existing Dagster project, and (with `--scan`)
its governance proposed from the data it already has, as a draft for review.

`detect` finds the Dagster project and its Definitions; `templates` writes the manifest, the
governed Definitions and the resources module; `draft` turns scan proposals into manifest entries;
`files` writes what is new and shows a diff of what exists (never overwriting).
"""
