"""Roles from the owners file, enforced in the library: only listed approvers approve,
acknowledge drift and publish, never the author of an override or a decision in the run;
reviewers act within their scope; reasons must say something; unknown names are refused
with the valid ones; a missing owners file is a clear error."""

from __future__ import annotations

import pytest
from govworld import (
    ACCEPTANCE,
    APPROVAL,
    AS_OF_1,
    base_features,
    copy_world,
    governed,
    make_world,
    write_canonical,
)

from segflow.errors import ConfigError, ControlFailed, SegflowError


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    settings = make_world(tmp_path_factory.mktemp("owners"))
    f = base_features()
    write_canonical(settings, list(f.customer_id))
    return settings, governed(settings, f, AS_OF_1)


@pytest.fixture
def ws(prepared, tmp_path):
    base, run = prepared
    return copy_world(base, tmp_path / "w"), run


def _item(settings, run, cohort="lapsed_high_value"):
    from segflow.governance.review_cli import list_items

    return next(i for i in list_items(settings, run, "open") if i[5] == cohort)


@pytest.mark.parametrize("reason", ["", " ", ".", "ok", "fine", "looks good", "ok ok ok",
                                    "ok ok ok ok ok", "fine Fine FINE fine", None])
def test_reasons_must_say_something(reason):
    from segflow.governance.owners import require_reason

    with pytest.raises(SegflowError, match="must say why, in at least 3 different words") as err:
        require_reason(reason)
    assert ("(none given)" in str(err.value)) == (reason is None)


def test_a_real_reason_passes():
    from segflow.governance.owners import require_reason

    assert require_reason("  figures checked with finance ") == "figures checked with finance"


def test_only_a_listed_approver_approves(ws):
    from segflow.governance.publish import approve

    settings, run = ws
    with pytest.raises(SegflowError) as err:
        approve(settings, run, "nobody.at.all", APPROVAL)
    assert err.value.exit_code == 2   # an unknown name is bad input, like a wrong option
    assert "'nobody.at.all' is not in the owners file" in str(err.value)
    assert "approvers who may are lead.analyst, second.approver" in str(err.value)
    with pytest.raises(ControlFailed, match="'asha.rao' may not approve runs of holi_test"):
        approve(settings, run, "asha.rao", APPROVAL)
    with pytest.raises(SegflowError, match="must say why"):
        approve(settings, run, "lead.analyst", ".")
    assert approve(settings, run, "lead.analyst", APPROVAL)["by"] == "lead.analyst"


def test_publish_needs_a_listed_approver(ws):
    from segflow.governance.publish import publish_run

    settings, run = ws
    with pytest.raises(SegflowError, match="'nobody.at.all' is not in the owners file"):
        publish_run(settings, run, by="nobody.at.all")
    with pytest.raises(ControlFailed, match="without an approver"):
        publish_run(settings, run)  # the system actor: only when no approval is needed


def test_the_author_of_an_override_may_not_approve_or_publish_the_run(ws):
    """Four eyes: second.approver overrides an item, then may neither approve nor publish
    nor acknowledge drift in that run; lead.analyst may."""
    from segflow.governance.publish import approve, publish_run
    from segflow.governance.review_cli import decide_item

    settings, run = ws
    item = _item(settings, run)[0]
    decide_item(settings, item, "second.approver", "the customer has a pending order",
                to="engaged")
    with pytest.raises(ControlFailed) as err:
        approve(settings, run, "second.approver", APPROVAL)
    assert "four eyes" in str(err.value) and "review decision" in str(err.value)
    assert "ask another approver: lead.analyst" in str(err.value)
    with pytest.raises(ControlFailed, match="four eyes"):
        publish_run(settings, run, by="second.approver", accept_open=1, reason=ACCEPTANCE)
    approve(settings, run, "lead.analyst", APPROVAL)


def test_an_approval_followed_by_the_approver_s_own_decision_no_longer_counts(ws):
    """Approve first, decide after: four eyes is checked when approving, so the gate checks
    it again on every verdict; the approval counts again for no one, and publication waits
    for another approver."""
    from segflow.governance.gate import verdict
    from segflow.governance.publish import approve, publish_run
    from segflow.governance.review_cli import decide_item

    settings, run = ws
    approve(settings, run, "second.approver", APPROVAL)
    assert verdict(settings, run).approved_by == ["second.approver"]
    item = _item(settings, run)[0]
    decide_item(settings, item, "second.approver", "the customer has a pending order",
                to="engaged")
    v = verdict(settings, run)
    assert v.approved_by == []
    (reason,) = [r for r in v.reasons if r.code == "approval_by_author"]
    assert reason.message.startswith("approved by second.approver, who then wrote override ")
    assert f"review decision {item} in the run: an approver's own decisions need a second " \
        "person's approval (four eyes)" in reason.message
    with pytest.raises(ControlFailed, match="four eyes"):
        publish_run(settings, run, by="lead.analyst", accept_open=v.open_exceptions,
                    reason=ACCEPTANCE)
    approve(settings, run, "lead.analyst", APPROVAL)
    assert verdict(settings, run).approved_by == ["lead.analyst"]


def test_reviewers_act_within_their_scope(ws):
    from segflow.governance.review_cli import decide_item

    settings, run = ws
    item = _item(settings, run)[0]
    with pytest.raises(ControlFailed, match="'mallory' may not review items of "
                                            "lapsed_high_value"):
        decide_item(settings, item, "mallory", "the customer asked to be left out")
    with pytest.raises(ControlFailed, match="'ravi.k' may not review"):
        decide_item(settings, item, "ravi.k", "the customer asked to be left out")
    with pytest.raises(SegflowError, match="must say why"):
        decide_item(settings, item, "asha.rao", "ok")
    # asha.rao is a reviewer and owns the lapsed_high_value template
    assert decide_item(settings, item, "asha.rao", "checked the order history by hand")[
        "status"] == "confirmed"


def test_a_role_removed_today_is_removed_from_earlier_runs_too(ws):
    from segflow.governance.publish import approve

    settings, run = ws
    settings.owners_path.write_text(settings.owners_path.read_text().replace(
        "lead.analyst: {name: Lead Analyst, roles: [approver]",
        "lead.analyst: {name: Lead Analyst, roles: [viewer]"))
    with pytest.raises(ControlFailed, match="'lead.analyst' may not approve"):
        approve(settings, run, "lead.analyst", APPROVAL)


def test_a_role_granted_after_the_refresh_does_not_reach_back(ws):
    from segflow.governance.publish import approve

    settings, run = ws
    settings.owners_path.write_text(settings.owners_path.read_text().replace(
        "mallory: {name: Mallory, roles: [viewer]}", "mallory: {name: Mallory, roles: [admin]}"))
    with pytest.raises(ControlFailed, match="'mallory' may approve runs of holi_test under "
                       "today's owners file but not under the copy frozen with this run \\(a "
                       "role granted after the run counts from the next refresh\\)"):
        approve(settings, run, "mallory", APPROVAL)


def test_a_missing_owners_file_is_a_clear_error(ws):
    from segflow.governance.publish import approve

    settings, run = ws
    settings.owners_path.unlink()
    with pytest.raises(SegflowError, match="no owners file at .*owners.yaml: it lists who may"):
        approve(settings, run, "lead.analyst", APPROVAL)


def test_a_bad_owners_file_names_file_and_line(tmp_path):
    from segflow.governance.owners import load_owners

    path = tmp_path / "owners.yaml"
    path.write_text("people:\n  a.b:\n    roles: [approver, boss]\n")
    with pytest.raises(ConfigError, match=r"owners.yaml:3: a.b: unknown role 'boss'"):
        load_owners(path)
    path.write_text("people:\n  a.b:\n    roles: [viewer]\n    team: x\n")
    with pytest.raises(ConfigError, match=r"owners.yaml:4: unknown key 'team'"):
        load_owners(path)


def test_the_shipped_owners_file_covers_the_shipped_campaigns():
    from segflow.governance.owners import load_owners
    from segflow.scoring.campaigns import load_campaign
    from segflow.scoring.schema import Problems
    from segflow.settings import get_settings

    settings = get_settings()
    owners = load_owners(settings.owners_path)
    for path in sorted(settings.campaigns_dir.glob("*.yaml")):
        campaign = load_campaign(path, Problems())
        approvers = owners.with_role("approver", campaign.name)
        assert campaign.owners[0] in approvers, (campaign.name, approvers)


def test_an_identity_names_one_person_of_the_owners_file(tmp_path):
    """What an identity provider calls a person (``identity:``, else their id) finds them,
    without case; two people with one identity are a file error at the line."""
    from segflow.governance.owners import load_owners, person_of_identity

    path = tmp_path / "owners.yaml"
    path.write_text("people:\n  asha.rao: {roles: [reviewer], identity: asha@shop.example}\n"
                    "  ravi.k: {roles: [viewer]}\n")
    owners = load_owners(path)
    assert person_of_identity(owners, "Asha@Shop.Example").id == "asha.rao"
    assert person_of_identity(owners, "RAVI.K").id == "ravi.k"
    assert person_of_identity(owners, "asha.rao") is None  # her identity is her address
    assert person_of_identity(owners, "") is None
    path.write_text("people:\n  asha.rao: {roles: [reviewer], identity: ravi.k}\n"
                    "  ravi.k: {roles: [viewer]}\n")
    with pytest.raises(ConfigError, match=r"owners.yaml:3: ravi.k signs in as 'ravi.k', as "
                                          "asha.rao does"):
        load_owners(path)
