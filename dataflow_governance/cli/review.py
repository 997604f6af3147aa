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
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dataflow_governance.cli import render
from dataflow_governance.cli.common import CliError, emit, project_catalog
from dataflow_governance.dagster_ext.parts import warehouse_of

if TYPE_CHECKING:
    from dataflow_governance.catalog.artifact import Catalog


def register(subparsers, common) -> None:
    """The `review` family's commands and options."""
    p = subparsers.add_parser("diff", parents=[common],
                       help="what a change does to personal data: the data maps of two git revisions compared")
    p.add_argument("--base", required=True, metavar="REF", help="the revision before the change (e.g. origin/main)")
    p.add_argument("--head", metavar="REF", help="the revision after it (default: the working tree)")
    p.add_argument("--fail-on", choices=["error", "warning", "never"], default="error",
                   help="exit 1 when a change is at least this severe (default: error)")
    p.add_argument("--approvals", action="store_true", help="also say who approved the head's data map")
    p.set_defaults(handler="review:cmd_diff")
    p = subparsers.add_parser("review", parents=[common],
                       help="sign off a revision's data map (signed, in the ledger); its status; a reviewer's key pair; "
                            "the checklist of a change")
    p.add_argument("action", choices=["approve", "status", "keygen", "checklist"])
    p.add_argument("--ref", metavar="REF", help="approve, status: the git revision whose data map is reviewed; "
                                                "checklist: the change's head (default: the working tree)")
    p.add_argument("--base", metavar="REF", help="checklist: the revision before the change (e.g. origin/main)")
    p.add_argument("--as", dest="role", metavar="ROLE", help="approve, keygen: the reviewer's role (e.g. dpo, security)")
    p.add_argument("--by", help="approve: who approves (default: git's user.email)")
    p.add_argument("--key", metavar="FILE", help="approve: the reviewer's Ed25519 private key; keygen: where to write it")
    p.set_defaults(handler="review:cmd_review")

WORKING_TREE = "working tree"
APPROVED = "review.approved"


def cmd_diff(args, project) -> int:
    from dataflow_governance.reports.review import diff_catalogs, fails

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
    if args.action == "keygen":
        return _keygen(args, project)
    if args.action == "checklist":
        return _checklist(args, project)
    role = _role(args, project) if args.action == "approve" else None
    if not args.ref:
        raise CliError(f"`dfg review {args.action}` needs --ref REF: the git revision whose data map is reviewed")
    built, commit = catalog_at(project, args.ref)
    if args.action == "approve":
        return _approve(args, project, role, built, commit)
    approvals = _approvals(project, built.fingerprint)
    roles = sorted(project.review.roles)
    signed = {a["role"] for a in approvals if a["valid"]}
    payload = {"ref": args.ref, "commit": commit, "fingerprint": built.fingerprint, "approvals": approvals,
               "roles": roles, "missing": [r for r in roles if r not in signed],
               "approved": bool(roles) and signed >= set(roles)}
    lines = [f"data map of {args.ref} ({commit[:12]}), catalog {built.fingerprint}:"]
    lines += [f"  {'approved' if a['valid'] else 'INVALID'} by {a['approver']} as {a['role']} at {a['at']} (ledger entry "
              f"{a['seq']})" + ("" if a["valid"] else f": {a['problem']}") for a in approvals]
    if not roles:
        lines.append("  no review roles are declared (review.roles in the manifest): nothing can be approved")
    lines += [f"  waiting for {r}" for r in payload["missing"]]
    emit(args, payload, "\n".join(lines))
    return 0 if payload["approved"] else 1


def _checklist(args, project) -> int:
    """The change's pre-implementation review: data elements, flows and boundaries, red flags (a secret
    scan of the changed files among them), and the roles that must sign."""
    from dataflow_governance.detection.secrets import SecretScanUnavailable, scan_for_secrets
    from dataflow_governance.reports.checklist import checklist, checklist_markdown

    if not args.base:
        raise CliError("`dfg review checklist` needs --base REF: the revision before the change")
    base, base_commit = catalog_at(project, args.base)
    head, head_label = catalog_at(project, args.ref) if args.ref else (project_catalog(project), WORKING_TREE)
    root = _git_root(Path(project.root))
    changed = _git(root, "diff", "--name-only", base_commit, *([head_label] if args.ref else [])).split()
    if not args.ref:
        changed += _git(root, "ls-files", "--others", "--exclude-standard").split()
    try:
        secrets = [s.to_dict() for s in scan_for_secrets(root, sorted(set(changed)))]
    except SecretScanUnavailable:
        secrets = None
    payload = {"base": {"ref": args.base, "commit": base_commit}, "head": {"ref": args.ref or WORKING_TREE, "commit": head_label},
               "changed_files": len(set(changed)),
               **checklist(base, head, secrets, project.review.roles, _approvals(project, head.fingerprint))}
    emit(args, payload, checklist_markdown(payload))
    return 1 if payload["red_flags"] else 0


def _role(args, project) -> str:
    from dataflow_governance.model.manifest import ROLE_NAME

    role = (args.role or "").strip()
    if not role:
        raise CliError("this needs the reviewer's role: --as ROLE (e.g. --as dpo)")
    if not re.match(ROLE_NAME, role):
        raise CliError("--as: a role is lower-case letters, digits, _ and - (at most 32)")
    if args.action == "approve" and role not in project.review.roles:
        raise CliError(f"role {role!r} is not declared under review.roles in the manifest (declared: "
                       f"{', '.join(sorted(project.review.roles)) or 'none'}); an approval is signed with a key "
                       "declared for its role")
    return role


def _keygen(args, project) -> int:
    from dataflow_governance.crypto.approvals import generate

    role = _role(args, project)
    if not args.key:
        raise CliError("keygen needs --key FILE: where the new private key goes (kept by the reviewer, never committed)")
    public = generate(Path(args.key))
    emit(args, {"role": role, "public_key": public, "private_key": args.key},
         f"private key → {args.key} (owner-only; keep it off the repository)\ndeclare in the manifest:\n"
         f"review:\n  roles:\n    {role}:\n      public_keys: [\"{public}\"]")
    return 0


def _approve(args, project, role: str, built: Catalog, commit: str) -> int:
    from dataflow_governance.crypto import approvals as signing
    from dataflow_governance.ledger.chain import Ledger
    from dataflow_governance.model.text import unsafe_character

    if not args.key:
        raise CliError("approving needs --key FILE: the reviewer's Ed25519 private key (`dfg review keygen`)")
    approver = args.by or _git_identity(project) or os.environ.get("USER") or "unknown"
    problem = unsafe_character(approver)
    if problem or not approver.strip() or len(approver) > 200:
        raise CliError(f"--by: the approver's name may not hold {problem or 'nothing, or more than 200 characters'}")
    key = signing.load_private(Path(args.key))
    public = signing.public_text(key.public_key())
    if public not in project.review.roles[role].public_keys:
        raise CliError(f"the key in {args.key} is not one of the keys declared for role {role!r}: refusing to sign")
    details = {"commit": commit, "ref": args.ref, "fingerprint": built.fingerprint, "role": role, "approver": approver,
               "public_key": public, "signature": signing.sign(key, signing.message(built.fingerprint, role, commit))}
    entry = Ledger(warehouse_of(project)).append(f"review:{role}", APPROVED, f"catalog:{built.fingerprint}", details)
    emit(args, {**details, "ledger_seq": entry.seq, "ledger_hash": entry.hash},
         f"approved the data map of {args.ref} ({commit[:12]}, catalog {built.fingerprint[:19]}…) as "
         f"{role} ({approver}), signed; ledger entry {entry.seq}")
    return 0


def approval_problem(details: dict, project) -> str | None:
    """Why a recorded approval proves nothing (None when its signature verifies with a key declared
    for its role)."""
    from dataflow_governance.crypto import approvals as signing

    role, public = details.get("role"), details.get("public_key")
    if not details.get("signature") or not public:
        return "unsigned"
    if role not in project.review.roles or public not in project.review.roles[role].public_keys:
        return f"signed with a key not declared for role {role!r}"
    payload = signing.message(str(details.get("fingerprint")), str(role), str(details.get("commit")))
    return None if signing.verifies(public, payload, details["signature"]) else "the signature does not verify"


def _approvals(project, fingerprint: str) -> list[dict]:
    from dataflow_governance.ledger.chain import Ledger

    entries = Ledger(warehouse_of(project)).entries(target=f"catalog:{fingerprint}", action=APPROVED)
    found = []
    for e in entries:
        details = e.details_dict()
        problem = approval_problem(details, project) if details.get("fingerprint") == fingerprint else \
            "names another fingerprint than its target"
        found.append({"seq": e.seq, "at": e.ts, "role": details.get("role"), "approver": details.get("approver"),
                      "commit": details.get("commit"), "valid": problem is None,
                      **({"problem": problem} if problem else {})})
    return found


# --- the catalog of a revision ----------------------------------------------------------------

def catalog_at(project, ref: str) -> tuple[Catalog, str]:
    """The governance catalog of the project as it is at git revision `ref`, and that commit.
    A commit's catalog never changes (for one plugin version): it is kept in the state folder's
    `revisions/` and read from there the next time."""
    from dataflow_governance import __version__
    from dataflow_governance.catalog.artifact import CatalogError

    root = _git_root(Path(project.root))
    commit = _resolve(root, ref)
    cached = Path(project.state_dir) / "revisions" / f"{commit}-{__version__}.json"
    from dataflow_governance.catalog import artifact as catalog_file

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
    from dataflow_governance.catalog import artifact as catalog_file

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
