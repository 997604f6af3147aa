"""`dfg diff` and `dfg review`: what a change does to the data map, and who signed it off.

The catalog of a git revision is built from that revision's files alone: they are exported into
a temporary folder and `dfg catalog build` runs there in a child process, with a state folder of
its own (`DFG_STATE_DIR`), so the working tree, its catalog and its state are never touched. A
catalog's fingerprint depends only on the files it was built from, so the fingerprint approved
for a commit is the one the deployed checkout of that commit computes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .. import catalog as catalog_file
from ..catalog import Catalog
from . import render
from .common import CliError, emit, project_catalog

WORKING_TREE = "working tree"
APPROVED = "review.approved"


def cmd_diff(args, project) -> int:
    from ..review import diff_catalogs, fails

    base, base_label = catalog_at(project, args.base)
    head, head_label = catalog_at(project, args.head) if args.head else (project_catalog(project), WORKING_TREE)
    changes = diff_catalogs(base, head)
    approvals = _approvals(project, head.fingerprint) if args.approvals else None
    payload = {
        "base": {"ref": args.base, "commit": base_label, "fingerprint": base.fingerprint},
        "head": {"ref": args.head or WORKING_TREE, "commit": head_label, "fingerprint": head.fingerprint},
        "changes": [c.to_dict() for c in changes],
        "counts": {s: sum(c.severity == s for c in changes) for s in ("error", "warning", "info")},
        **({"approvals": approvals} if approvals is not None else {}),
    }
    emit(args, payload, render.review_markdown(payload))
    return 1 if fails(changes, args.fail_on) else 0


def cmd_review(args, project) -> int:
    from ..ledger import Ledger

    if args.action == "approve" and not (args.role or "").strip():
        raise CliError("approving needs the reviewer's role: --as ROLE (e.g. --as dpo)")
    built, commit = catalog_at(project, args.ref)
    if args.action == "approve":
        approver = args.by or _git_identity(project) or os.environ.get("USER") or "unknown"
        details = {"commit": commit, "ref": args.ref, "fingerprint": built.fingerprint, "role": args.role,
                   "approver": approver}
        entry = Ledger(project.open_warehouse()).append(f"review:{args.role}", APPROVED,
                                                        f"catalog:{built.fingerprint}", details)
        emit(args, {**details, "ledger_seq": entry.seq, "ledger_hash": entry.hash},
             f"approved the data map of {args.ref} ({commit[:12]}, catalog {built.fingerprint[:19]}…) as "
             f"{args.role} ({approver}); ledger entry {entry.seq}")
        return 0
    approvals = _approvals(project, built.fingerprint)
    payload = {"ref": args.ref, "commit": commit, "fingerprint": built.fingerprint, "approvals": approvals}
    lines = [f"data map of {args.ref} ({commit[:12]}), catalog {built.fingerprint}:"]
    lines += [f"  approved by {a['approver']} as {a['role']} at {a['at']} (ledger entry {a['seq']})" for a in approvals]
    emit(args, payload, "\n".join(lines if approvals else lines + ["  not approved"]))
    return 0 if approvals else 1


def _approvals(project, fingerprint: str) -> list[dict]:
    from ..ledger import Ledger

    entries = Ledger(project.open_warehouse()).entries(target=f"catalog:{fingerprint}", action=APPROVED)
    return [{"seq": e.seq, "at": e.ts, "role": e.details_dict().get("role"), "approver": e.details_dict().get("approver"),
             "commit": e.details_dict().get("commit")} for e in entries]


# --- the catalog of a revision ----------------------------------------------------------------

def catalog_at(project, ref: str) -> tuple[Catalog, str]:
    """The governance catalog of the project as it is at git revision `ref`, and that commit.
    A commit's catalog never changes (for one plugin version): it is kept in the state folder's
    `revisions/` and read from there the next time."""
    from .. import __version__
    from ..catalog import CatalogError

    root = _git_root(Path(project.root))
    commit = _resolve(root, ref)
    cached = Path(project.state_dir) / "revisions" / f"{commit}-{__version__}.json"
    if cached.is_file():
        try:
            return catalog_file.read(cached), commit
        except CatalogError:
            pass  # damaged: built again below
    built = _build_at(project, root, ref, commit)
    try:
        catalog_file.write(built, cached)
    except OSError:
        pass  # a state folder that cannot be written only costs the next run a rebuild
    return built, commit


def _build_at(project, root: Path, ref: str, commit: str) -> Catalog:
    manifest = Path(project.manifest_path).resolve().relative_to(root)
    with tempfile.TemporaryDirectory(prefix="dfg-revision-") as folder:
        _export(root, commit, Path(folder) / "tree")
        copy = Path(folder) / "tree" / manifest
        if not copy.is_file():
            raise CliError(f"{manifest} does not exist at {ref} ({commit[:12]}): nothing to compare with")
        env = {k: v for k, v in os.environ.items() if k != "DFG_PROJECT"}
        env["DFG_STATE_DIR"] = str(Path(folder) / "state")
        try:
            run = subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "--project", str(copy), "catalog",
                                  "build", "--json"], cwd=copy.parent, env=env, capture_output=True, text=True,
                                 timeout=900)
        except subprocess.TimeoutExpired:
            raise CliError(f"building the catalog of {ref} ({commit[:12]}) took more than 15 minutes") from None
        if run.returncode != 0:
            why = (run.stderr.strip().splitlines() or ["(no message)"])[-1].removeprefix("error: ")
            raise CliError(f"the catalog of {ref} ({commit[:12]}) cannot be built: {why}")
        return catalog_file.read(Path(json.loads(run.stdout)["path"]))


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise CliError("git is not installed: comparing revisions needs it") from None
    if done.returncode != 0:
        raise CliError(f"git {args[0]}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return done.stdout.strip()


def _git_root(folder: Path) -> Path:
    try:
        return Path(_git(folder, "rev-parse", "--show-toplevel")).resolve()
    except CliError:
        raise CliError(f"the project at {folder} is not in a git repository: revisions cannot be compared") from None


def _resolve(root: Path, ref: str) -> str:
    if not ref or ref.startswith("-"):
        raise CliError(f"{ref!r} is not a git revision")
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except CliError:
        raise CliError(f"unknown git revision {ref!r}") from None


def _export(root: Path, commit: str, into: Path) -> None:
    """The commit's files (not the working tree's) into `into`; tar's safe 'data' filter refuses
    links and paths that would leave the folder."""
    try:
        archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", commit],
                                 capture_output=True, timeout=300, check=True).stdout
    except subprocess.CalledProcessError as exc:
        raise CliError(f"git archive {commit[:12]}: {exc.stderr.decode(errors='replace').strip()}") from None
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def _git_identity(project) -> str | None:
    try:
        return _git(Path(project.root), "config", "user.email") or None
    except CliError:
        return None
