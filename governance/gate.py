"""The one gate: may this run be published or exported, and if not, why not?

``verdict(settings, run_id)`` reads what governance recorded (seal, controls, review queue,
approvals, publications) and the drift gate's verdict file ``runs/<id>/drift/gate.json``
(governance never imports monitoring), and returns a ``Verdict``: its state, whether
publication and export may go ahead, and every reason it may not, each in business words
with the command that resolves it. The CLI (publish, export, refresh, runs show), the
Prefect flow and the report all use it, so they can never disagree.

It fails closed: a run never governed, a drift check that never ran or crashed, and
memberships that changed after governance all block.

States: ``published`` (a version of this run is published), ``ready`` (nothing stands in
the way), ``waiting`` (a person must decide: approve, acknowledge drift, accept open
exceptions), ``blocked`` (something is wrong or unchecked: fix it first).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from segflow.governance import seal as seals
from segflow.governance.audit import run_entries
from segflow.governance.publications import publications_of_run
from segflow.governance.review_sets import require_items
from segflow.governance.store import ensure_schema
from segflow.runstore import load_run, run_dir
from segflow.settings import Settings
from segflow.sqlengine import run_file_sha256

BLOCKED, WAITING = "blocked", "waiting"


@dataclass(frozen=True)
class Reason:
    code: str      # not_governed, duplicate, seal_mismatch, control_failed, drift_..., ...
    kind: str      # blocked | waiting
    message: str   # what stands in the way, in business words
    command: str   # what resolves it

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Verdict:
    run_id: str
    campaign: str
    state: str = "ready"
    reasons: list[Reason] = field(default_factory=list)
    needs_approval: bool = False
    approved_by: list[str] = field(default_factory=list)
    open_exceptions: int = 0
    seal: dict | None = None
    memberships_sha256: str | None = None  # the file as it is now
    published_version: int | None = None
    switched_off: list[str] = field(default_factory=list)  # "control: why", never checked

    @property
    def seal_intact(self) -> bool:
        return bool(self.seal) and self.seal["memberships_sha256"] == self.memberships_sha256

    @property
    def may_publish(self) -> bool:
        return self.state == "ready"

    @property
    def may_export(self) -> bool:
        return self.state == "ready" or (self.state == "published" and self.seal_intact)

    def headline(self) -> str:
        """One line: the state and what it takes to move on."""
        off = "".join(f"; not checked: {o}" for o in self.switched_off)
        if self.state == "published":
            return (f"run {self.run_id} is published as version {self.published_version} of "
                    f"{self.campaign}{off}")
        if self.state == "ready":
            return f"run {self.run_id} may be published: every check passed{off}"
        what = "is blocked" if self.state == BLOCKED else "is waiting for a decision"
        return f"run {self.run_id} {what}: " + "; ".join(r.message for r in self.reasons) + off

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(may_publish=self.may_publish, may_export=self.may_export,
                   seal_intact=self.seal_intact, headline=self.headline())
        return out


def verdict(settings: Settings, run_id: str, accept_open: int | None = None,
            con=None) -> Verdict:
    """The gate's verdict on a run. ``accept_open`` is the count of open review items the
    publisher accepts explicitly (it must equal the open count)."""
    run = load_run(settings, run_id)
    v = Verdict(run_id, run.campaign)
    if con is None:
        from segflow.db import connect

        with connect(settings) as own:
            return verdict(settings, run_id, accept_open, own)
    ensure_schema(con)
    seal = seals.current(con, run_id)
    controls = con.execute("SELECT name, passed, severity, message FROM control_results "
                           "WHERE run_id = ? ORDER BY name", [run_id]).fetchall()
    require_items(con, run_id)  # a Spark run's items unreadable: no count, no pass
    v.open_exceptions = con.execute("SELECT count(*) FROM review_queue WHERE run_id = ? AND "
                                    "status = 'open'", [run_id]).fetchone()[0]
    approvals = con.execute("SELECT approved_by, seal_hash FROM approvals WHERE run_id = ? "
                            "ORDER BY approved_at", [run_id]).fetchall()
    published = publications_of_run(settings, run_id, con)
    memberships = run_dir(settings, run_id) / "memberships.parquet"
    v.memberships_sha256 = run_file_sha256(settings, memberships) if memberships.exists() \
        else None  # hashed where the project computes: the executors on engine: spark
    v.seal = seal.to_dict() if seal else None
    v.switched_off = [f"{name} ({message})" for name, _, severity, message in controls
                      if severity == "off"]
    if published:
        v.published_version = published[-1]["version"]
    reasons = v.reasons
    original = run.inputs.get("duplicate_of")   # whatever a later step set its status to
    if original:
        reasons.append(Reason("duplicate", BLOCKED, f"run {run_id} repeated run {original} "
                              "with the same inputs and was kept only for the record; its "
                              "review, approval and publication are the original's",
                              f"use run {original} (segflow runs show {original})"))
        v.state = BLOCKED
        return v
    if seal is None or not controls:
        reasons.append(Reason("not_governed", BLOCKED, f"run {run_id} has not been governed "
                              "(controls, movement and review have not run)",
                              f"segflow govern {run_id}"))
    elif not v.seal_intact:
        reasons.append(Reason(
            "seal_mismatch", BLOCKED,
            f"the memberships changed after governance: governance checked sha256 "
            f"{seal.memberships_sha256[:16]}..., the file is now "
            f"{(v.memberships_sha256 or 'missing')[:16]}...",
            f"restore {memberships} as it was, or re-check it with `segflow govern {run_id}` "
            "(approvals of the old content then no longer count)"))
    if published:
        v.state = "published"
        v.approved_by = [by for by, sealed in approvals if seal and sealed == seal.seal_hash]
        return v
    for name, ok, severity, message in controls:
        if not ok and severity == "block":
            reasons.append(Reason("control_failed", BLOCKED, f"control {name} failed: "
                                  f"{message}", f"correct the data, then `segflow refresh "
                                  f"--campaign {run.campaign}`"))
    reasons += _drift(settings, run_id, run.campaign, con)
    if seal is not None and controls:
        _approval(settings, v, controls, approvals, seal, run_id, accept_open)
    kinds = {r.kind for r in reasons}
    v.state = BLOCKED if BLOCKED in kinds else WAITING if WAITING in kinds else "ready"
    return v


DRIFT_CHECKS = ("drift_checked", "drift_failed")
DRIFT_ACK = "drift_acknowledged"


def _drift_claim_unbacked(con, run_id: str, passed: bool) -> str | None:
    """Why the audit log does not back a verdict file's pass (``passed``) or acknowledgement
    (None when it does): the run's last drift check must have passed, or have been
    acknowledged after it. The log's database copy is the authoritative one."""
    last, acknowledged = None, False
    for entry in run_entries(con, run_id, (*DRIFT_CHECKS, DRIFT_ACK)):
        if entry["action"] in DRIFT_CHECKS:
            last, acknowledged = entry, False
        elif last is not None:
            acknowledged = True
    if last is None:
        return "records no drift check of this run"
    if last["action"] == "drift_failed":
        return "records that its last drift check crashed"
    if passed and not last["payload"].get("passed"):
        return "records that its last drift check found a breach"
    if not passed and not last["payload"].get("passed") and not acknowledged:
        return "records no acknowledgement of its last drift check's breach"
    return None


def _authors_among(settings, run_id: str, approvers: list[str]) -> dict[str, str]:
    """Those of ``approvers`` who wrote review decisions or overrides in the run (name ->
    what): approving first and deciding after would otherwise pass the four-eyes rule,
    which ``approve`` checks only at the moment of approval."""
    if not approvers:
        return {}
    from segflow.governance.owners import run_authors

    return {by: what for by, what in run_authors(settings, run_id).items() if by in approvers}


def _approval(settings, v: Verdict, controls, approvals, seal, run_id: str,
              accept_open: int | None) -> None:
    from segflow.governance.config import load_config
    from segflow.runstore import frozen_settings

    config = load_config(frozen_settings(settings, run_id), v.campaign)
    why = (["the campaign requires approval"] if config.approval_required else []) + [
        f"review control {n} failed" for n, ok, sev, _ in controls if not ok and sev != "block"]
    if v.open_exceptions:
        why.append(f"{v.open_exceptions:,} review item(s) are open")
    v.needs_approval = bool(why)
    v.approved_by = [by for by, sealed in approvals if sealed == seal.seal_hash]
    authors = _authors_among(settings, run_id, v.approved_by)
    v.approved_by = [by for by in v.approved_by if by not in authors]
    if v.needs_approval and not v.approved_by:
        others = sorted({by for by, sealed in approvals if sealed != seal.seal_hash})
        if authors:
            v.reasons.append(Reason(
                "approval_by_author", WAITING,
                "approved by " + "; ".join(f"{by}, who then wrote {what} in the run"
                                           for by, what in sorted(authors.items()))
                + ": an approver's own decisions need a second person's approval (four eyes)",
                f"segflow approve {run_id} --by ANOTHER_APPROVER --reason TEXT"))
        elif others:
            v.reasons.append(Reason(
                "approval_stale", WAITING,
                f"approved by {', '.join(others)} for other content (an earlier seal); the "
                f"run's memberships now have seal {seal.seal_hash[:16]}...",
                f"segflow approve {run_id} --by APPROVER --reason TEXT"))
        else:
            v.reasons.append(Reason("approval_missing", WAITING,
                                    "it needs an approval: " + "; ".join(why),
                                    f"segflow approve {run_id} --by APPROVER --reason TEXT"))
    if v.open_exceptions and accept_open != v.open_exceptions:
        v.reasons.append(Reason(
            "open_exceptions", WAITING,
            f"{v.open_exceptions:,} review item(s) are open and publishing them needs an "
            "explicit acceptance" + (f" (--accept-open {accept_open} does not match)"
                                     if accept_open is not None else ""),
            f"decide them (`segflow review list --run {run_id} --status open`), or `segflow "
            f"publish {run_id} --by APPROVER --accept-open {v.open_exceptions} --reason TEXT`"))


def _drift(settings: Settings, run_id: str, campaign: str, con) -> list[Reason]:
    """The drift gate's verdict file: missing or errored blocks, a breach waits for an
    acknowledgement. A pass or an acknowledgement counts only where the audit log records
    it (``_drift_claim_unbacked``): the file is a plain file in the run's folder."""
    path = run_dir(settings, run_id) / "drift" / "gate.json"
    check = f"segflow drift --campaign {campaign} --run {run_id}"
    if not path.exists():
        return [Reason("drift_not_checked", BLOCKED, "drift has not been checked for this run",
                       check)]
    try:
        gate = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        gate = None
    if not isinstance(gate, dict):
        return [Reason("drift_crashed", BLOCKED, f"the drift verdict {path} is unreadable",
                       check)]
    if gate.get("error"):
        return [Reason("drift_crashed", BLOCKED, f"the drift check crashed: {gate['error']}",
                       f"fix the cause, then `{check}`")]
    if gate.get("passed") or gate.get("acknowledged"):
        unbacked = _drift_claim_unbacked(con, run_id, bool(gate.get("passed")))
        if unbacked:
            return [Reason("drift_unrecorded", BLOCKED,
                           f"the drift verdict {path} says the run "
                           f"{'passed' if gate.get('passed') else 'was acknowledged'}, but "
                           f"the audit log {unbacked}: the file was not written by segflow",
                           f"check drift again: `{check}`")]
        return []
    return [Reason("drift_breached", WAITING,
                   f"the drift gate is breached ({'; '.join(gate.get('reasons') or [])})",
                   f"segflow drift ack {run_id} --by APPROVER --reason TEXT")]
