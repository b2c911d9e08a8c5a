"""Who may do what: the owners file (``owners.yaml`` beside ``segment_templates/``), the
four-eyes rule and the rule that a reason must say something.

The rules are enforced here, in the library, so every caller (CLI, flow, web app) gets
them. ``--by`` names a person of the owners file; the operating-system user typing the
command is recorded beside that name in every audit entry (``segflow.governance.audit``).

Roles:

- ``viewer``: reads runs, reports and the audit log (nothing is refused to read);
- ``reviewer``: decides review items of the templates, cohorts and accounts listed for them,
  of the note topics listed for them (``topics:``: an account whose latest note has a topic
  the campaign routes, ``review.note_topics``, becomes a review item routed to them), of the
  templates whose ``owner:`` names them, and of the campaigns that name them as an owner or
  in ``review.reviewers``;
- ``approver``: approves runs, acknowledges drift breaches and publishes, for the campaigns
  listed (every campaign when none are listed);
- ``admin``: every role above, on every campaign.

Nobody approves, acknowledges drift in, or publishes a run in which they wrote an override
or a review decision (four eyes). A run's rules are frozen at refresh time, its owners file
too: a person must hold the role both in the run's frozen copy and in today's file, so a
role removed today is removed at once, and a role granted after the run does not reach back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from segflow.errors import ConfigError, ControlFailed, SegflowError
from segflow.settings import Settings
from segflow.yamlio import LineDict, load_yaml

ROLES = ("viewer", "reviewer", "approver", "admin")
PERSON_KEYS = {"name": str, "roles": list, "campaigns": list, "templates": list,
               "cohorts": list, "accounts": list, "topics": list, "identity": str}
SYSTEM_ACTOR = "segflow"  # the scheduler publishing a run that needs nobody's approval
MIN_REASON_WORDS, MIN_REASON_CHARS = 3, 12
NOTE_RULE = "note:"  # the rule of a review item raised by a note topic: note:<topic>


def note_rule(topic: str) -> str:
    return NOTE_RULE + topic


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    roles: frozenset[str]
    campaigns: frozenset[str] = frozenset()  # empty: every campaign
    templates: frozenset[str] = frozenset()
    cohorts: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()  # note topics routed to them (review.note_topics)
    # who the person is at the desk's identity provider (the value of review_desk.oidc.claim,
    # e.g. their e-mail address); None: their person id
    identity: str | None = None

    def has(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    def covers(self, campaign: str) -> bool:
        return not self.campaigns or campaign in self.campaigns or "admin" in self.roles


@dataclass(frozen=True)
class Owners:
    path: Path
    people: dict[str, Person] = field(default_factory=dict)

    def with_role(self, role: str, campaign: str) -> list[str]:
        return sorted(p.id for p in self.people.values() if p.has(role) and p.covers(campaign))


def require_reason(reason: str | None, what: str = "reason") -> str:
    """The one rule for reasons: at least three different words and twelve characters ("."
    or "ok ok ok ok" explains nothing to an auditor). Returns the reason, trimmed."""
    text = (reason or "").strip()
    words = {w.casefold() for w in re.findall(r"[^\W_]+", text)}
    if len(words) < MIN_REASON_WORDS or len(text) < MIN_REASON_CHARS:
        raise SegflowError(f"the {what} must say why, in at least {MIN_REASON_WORDS} different "
                           "words and "
                           f"{MIN_REASON_CHARS} characters ("
                           + (f"got {reason!r}" if reason is not None else "none given")
                           + "), e.g. "
                           "\"figures checked against the finance report\"")
    return text


def load_owners(path: Path) -> Owners:
    """Parse an owners file strictly: unknown keys, roles and types name file and line."""
    path = Path(path)
    if not path.exists():
        raise SegflowError(f"no owners file at {path}: it lists who may review, approve and "
                           "publish (see docs/governance.md, 'Owners file')")
    doc = load_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), dict):
        raise ConfigError(path, 1, "an owners file is a mapping with 'people:' (person id -> "
                          "name, roles, campaigns, templates, cohorts, accounts)")
    unknown = set(doc) - {"people"}
    if unknown:
        raise ConfigError(path, _line(doc, sorted(unknown)[0]),
                          f"unknown key '{sorted(unknown)[0]}'; an owners file has 'people:'")
    people = doc["people"]
    owners = Owners(path, {pid: _person(path, people, pid) for pid in people})
    seen: dict[str, str] = {}
    for pid, person in owners.people.items():
        key = (person.identity or pid).casefold()
        if key in seen:
            raise ConfigError(path, _line(people, pid), f"{pid} signs in as "
                              f"{person.identity or pid!r}, as {seen[key]} does: an identity "
                              "names one person")
        seen[key] = pid
    return owners


def unknown_people(owners: Owners, path: Path) -> list[str]:
    """``file:line: problem`` for each person a template or campaign file names (``owner``,
    ``review.reviewers``) whom the owners file does not list. Why at check time: a misspelt
    reviewer gets no review item and a misspelt owner is asked about nothing, and neither
    shows until a run waits for someone who does not exist."""
    from segflow.suggest import nearest

    doc = load_yaml(path)
    if not isinstance(doc, LineDict):
        return []
    review = doc.get("review")
    named = [("owner", doc)] + ([("reviewers", review)] if isinstance(review, LineDict)
                                else [])
    found = []
    for key, holder in named:
        value = holder.get(key)
        for name in [value] if isinstance(value, str) else value or []:
            if isinstance(name, str) and name not in owners.people:
                found.append(f"{path}:{holder.line(key)}: {key}: {name!r} is not in the "
                             f"owners file {owners.path}{nearest(name, owners.people)}")
    return found


def person_of_identity(owners: Owners, identity: str) -> Person | None:
    """The person an identity provider's sign-in names: the one whose ``identity:`` is it,
    else the one whose id is it (compared without case, as providers compare names)."""
    key = identity.strip().casefold()
    found = [p for p in owners.people.values() if (p.identity or p.id).casefold() == key]
    return found[0] if key and found else None


def _person(path: Path, people: dict, pid) -> Person:
    entry = people[pid]
    line = _line(people, pid)
    if not isinstance(pid, str) or not isinstance(entry, dict):
        raise ConfigError(path, line, f"person {pid!r} must map to name, roles, ...")
    for key, value in entry.items():
        where = _line(entry, key) or line
        if key not in PERSON_KEYS:
            raise ConfigError(path, where, f"unknown key '{key}' for {pid}; allowed: "
                              f"{', '.join(PERSON_KEYS)}")
        want = PERSON_KEYS[key]
        if not isinstance(value, want) or (want is list and not all(
                isinstance(v, str | int) for v in value)):
            raise ConfigError(path, where, f"{pid}.{key} must be a {want.__name__}")
    roles = entry.get("roles")
    if not roles:
        raise ConfigError(path, line, f"{pid} has no roles; give one or more of "
                          f"{', '.join(ROLES)}")
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ConfigError(path, _line(entry, "roles") or line,
                          f"{pid}: unknown role '{bad[0]}'; roles are {', '.join(ROLES)}")
    return Person(pid, entry.get("name", pid), frozenset(roles),
                  *(frozenset(str(v) for v in entry.get(k) or ())
                    for k in ("campaigns", "templates", "cohorts", "accounts", "topics")),
                  identity=entry.get("identity"))


def _line(mapping, key) -> int | None:
    return mapping.line(key) if isinstance(mapping, LineDict) else None


@dataclass(frozen=True)
class RunOwners:
    """The owners files that rule one run: today's, and the copy frozen with the run."""

    current: Owners
    frozen: Owners | None

    @property
    def files(self) -> tuple[Owners, ...]:
        return (self.current,) if self.frozen is None else (self.current, self.frozen)

    def allowed(self, test) -> list[str]:
        """Person ids that pass ``test(owners, person)`` in every file."""
        names = set(self.current.people)
        for owners in self.files:
            names &= {pid for pid, p in owners.people.items() if test(owners, p)}
        return sorted(names)


def run_owners(settings: Settings, run_id: str) -> RunOwners:
    """Today's owners file (required) and the run's frozen copy (when the run has one), the
    copy checked against the hash the run recorded (``_frozen_owners_problem``)."""
    from segflow.runstore import frozen_dir

    current = load_owners(settings.owners_path)
    frozen_path = frozen_dir(settings, run_id) / "owners.yaml"
    problem = _frozen_owners_problem(settings, run_id, frozen_path)
    if problem:
        raise ControlFailed(f"the owners file frozen with run {run_id} ({frozen_path}) "
                            f"{problem}: restore it, or refresh the campaign to make a run "
                            "under today's owners file")
    return RunOwners(current, load_owners(frozen_path) if frozen_path.exists() else None)


def _frozen_owners_problem(settings: Settings, run_id: str, path: Path) -> str | None:
    """What is wrong with the run's frozen owners file (None: nothing): it must be the one
    the run was made with, its sha256 as the run's first govern audit entry recorded it
    (before governance, as the run's manifest does; a later govern entry copies a manifest
    that may have been edited by then). The copy is read-only, but a chmod undoes that and
    an approver added to it would approve; deleting it would drop the frozen rules
    altogether. A run made before the hashes were recorded is not checked."""
    import hashlib

    from segflow.governance.audit import first_of_run
    from segflow.runstore import load_run, run_dir

    governed = first_of_run(settings, run_id, "govern")
    if governed:
        inputs = governed["payload"].get("inputs") or {}
    elif (run_dir(settings, run_id) / "manifest.json").exists():
        inputs = load_run(settings, run_id).inputs
    else:   # no record of the run at all (a queue built by hand): nothing was recorded
        inputs = {}
    want = (inputs.get("frozen") or {}).get("owners.yaml")
    if want is None:
        return None
    if not path.exists():
        return f"is missing, though the run recorded it (sha256 {want[:16]}...)"
    have = hashlib.sha256(path.read_bytes()).hexdigest()
    if have != want:
        return (f"changed after the run was made (sha256 {have[:16]}..., the run recorded "
                f"{want[:16]}...)")
    return None


def require_person(owners: RunOwners, by: str, role: str, test, what: str) -> None:
    """Refuse ``by`` unless ``test`` holds in every owners file; name who may."""
    from segflow.suggest import nearest

    allowed = owners.allowed(test)
    if by in allowed:
        return
    who = ", ".join(allowed) or "nobody (add someone with that role to the owners file)"
    person = owners.current.people.get(by)
    if person is None:   # a name nobody has: a typo, as bad as a wrong option (exit 2)
        raise SegflowError(f"{by!r} is not in the owners file {owners.current.path}"
                           f"{nearest(by, owners.current.people)}: {role}s who may are {who}")
    granted_since = owners.frozen is not None and test(owners.current, person) and not (
        by in owners.frozen.people and test(owners.frozen, owners.frozen.people[by]))
    why = (f"{by!r} may {what} under today's owners file but not under the copy frozen with "
           "this run (a role granted after the run counts from the next refresh)"
           if granted_since else f"{by!r} may not {what}")
    raise ControlFailed(f"{why}: {role}s who may are {who}")


def require_approver(settings: Settings, run_id: str, campaign: str, by: str,
                     what: str = "approve") -> None:
    """``by`` holds the approver role for the campaign (in today's and the frozen owners
    file) and wrote no override or review decision in the run (four eyes)."""
    owners = run_owners(settings, run_id)
    require_person(owners, by, "approver",
                   lambda _o, p: p.has("approver") and p.covers(campaign),
                   f"{what} runs of {campaign}")
    authors = run_authors(settings, run_id)
    if by in authors:
        raise ControlFailed(f"{by!r} may not {what} run {run_id}: they wrote "
                            f"{authors[by]} in it, and a second person must check that work "
                            "(four eyes); ask another approver: "
                            + ", ".join(n for n in owners.allowed(
                                lambda _o, p: p.has("approver") and p.covers(campaign))
                                        if n not in authors))


def run_authors(settings: Settings, run_id: str) -> dict[str, str]:
    """Who wrote review decisions or overrides in a run: name -> what they wrote."""
    from segflow.db import connect
    from segflow.governance.store import ensure_schema, run_file
    from segflow.scoring.runfiles import parquet_sql

    memberships = parquet_sql(run_file(settings, run_id, "memberships.parquet"))
    with connect(settings) as con:
        ensure_schema(con)
        has_override = "override_id" in [r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM {memberships}").fetchall()]
        applied = (f"""SELECT o.decided_by AS who, 'override ' || o.override_id AS what
            FROM overrides o SEMI JOIN {memberships} m
              ON m.override_id = o.override_id""" if has_override else
                   "SELECT NULL AS who, NULL AS what WHERE false")
        rows = con.execute(f"""SELECT who, string_agg(DISTINCT what, ' and ' ORDER BY what) FROM (
            SELECT decided_by AS who, 'review decision ' || review_id AS what
              FROM review_queue WHERE run_id = ? AND decided_by IS NOT NULL
            UNION ALL {applied}
            UNION ALL SELECT decided_by, 'override ' || override_id FROM overrides
              WHERE run_id = ?) GROUP BY who ORDER BY who""", [run_id, run_id]).fetchall()
    return {who: what for who, what in rows if who}


def topic_reviewers(owners: RunOwners, campaign: str, topic: str) -> list[str]:
    """Who the owners files name for a note topic: reviewers of the campaign listing it."""
    return owners.allowed(lambda _o, p: p.has("reviewer") and p.covers(campaign)
                          and topic in p.topics)


def may_review(settings: Settings, run_id: str, by: str, *, campaign: str,
               campaign_reviewers: set[str], template_owners: set[str], template: str | None,
               cohort: str | None, entity_id: str, rule: str = "",
               owners: RunOwners | None = None) -> None:
    """``by`` holds the reviewer role with a scope that covers this item (an item raised
    by a note topic, rule ``note:<topic>``, is covered by the topic's reviewers too).
    ``owners``: the run's owners files when the caller read them once for many items."""
    base = (cohort or "").split("__")[0]
    topic = rule[len(NOTE_RULE):] if rule.startswith(NOTE_RULE) else None

    def test(_owners, p: Person) -> bool:
        if not (p.has("reviewer") and p.covers(campaign)):
            return False
        return ("admin" in p.roles or p.id in campaign_reviewers or p.id in template_owners
                or bool(template and template in p.templates) or base in p.cohorts
                or entity_id in p.accounts or topic in p.topics)

    require_person(owners or run_owners(settings, run_id), by, "reviewer", test,
                   f"review items of {base or 'this cohort'} (entity {entity_id})")
