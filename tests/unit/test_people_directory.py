"""The people directory's whole-document checks (contracts/people.py, as the cases
service loads it) and the projections the cases service and notify read."""

import copy

import pytest

from services.cases import people as cases_people
from services.common.errors import BadRequest
from services.notify import people as notify_people

DIRECTORY = {
    "teams": [{"id": "cx-care", "name": "CX care", "lead": "wang.lei"}],
    "people": [
        {
            "id": "wang.lei",
            "name": "王磊",
            "role": "owner",
            "teams": ["cx-care"],
            "channels": {"email": "w@example.com"},
        },
        {"id": "chen.jie", "name": "陈杰", "teams": ["cx-care"], "channels": {"email": "c@example.com"}},
        {"id": "admin", "name": "Admin", "role": "admin"},
    ],
    "strategies": [{"id": "care", "team": "cx-care", "pick": "round_robin"}],
}


def errors_of(document) -> list[str]:
    with pytest.raises(BadRequest) as caught:
        cases_people.load(document)
    return caught.value.errors


def changed(**edits):
    document = copy.deepcopy(DIRECTORY)
    for path, value in edits.items():
        *parents, last = path.split("__")
        node = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return document


def test_the_directory_loads_with_defaults():
    directory = cases_people.load(DIRECTORY)
    chen = directory["people"][1]
    assert (chen["role"], chen["login"], chen["on_shift"], chen["seniority"]) == (
        "agent",
        True,
        True,
        "regular",
    )
    assert directory["strategies"][0]["level_weights"] == {"P1": 8, "P2": 4, "P3": 2, "P4": 1}


def test_an_assignable_person_no_channel_reaches_is_refused_by_field():
    errors = errors_of(changed(people__1__channels={"phone": "+86 138 0000 0000"}))
    assert errors == [
        "people.1.channels: chen.jie can be assigned cases (role agent, team cx-care) but has no channel"
        " notify can reach (an email, or an IM handle with a webhook of its own or of one of their teams)"
    ]


def test_a_lead_outside_every_team_must_be_reachable_too():
    document = changed(people__0__teams=[], people__0__channels={})
    assert errors_of(document)[0].startswith(
        "people.0.channels: wang.lei can be assigned cases (role owner, leads"
    )


def test_an_im_mention_is_reachable_through_the_teams_robot():
    robot = {"dingtalk": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=abc"}}
    document = changed(people__1__channels={"dingtalk": {"user_id": "chenjie"}}, teams__0__channels=robot)
    assert cases_people.load(document)["people"][1]["channels"]["dingtalk"] == {"user_id": "chenjie"}
    document["teams"][0]["channels"] = {}
    assert errors_of(document)[0].startswith("people.1.channels: chen.jie can be assigned")


def test_someone_in_no_team_needs_no_channel():
    assert cases_people.load(DIRECTORY)["people"][2]["channels"] == {}


def test_a_team_lead_who_is_not_a_person_is_refused():
    assert errors_of(changed(teams__0__lead="ghost")) == [
        "teams.0.lead: ghost is not a person in this directory"
    ]


def test_duplicate_ids_are_refused_naming_both():
    document = copy.deepcopy(DIRECTORY)
    document["people"].append(dict(document["people"][1], name="Another Chen"))
    assert errors_of(document) == ["people.3.id: duplicate id chen.jie (also people.1)"]


def test_unknown_teams_and_strategy_fields_are_named():
    assert errors_of(changed(people__1__teams=["cx-care", "nope"])) == ["people.1.teams: unknown teams: nope"]
    assert errors_of(changed(strategies__0__pick="random")) == [
        "strategies.0.pick: Must be one of: round_robin, least_loaded."
    ]
    assert errors_of(changed(strategies__0__team="nope")) == ["strategies.0.team: unknown team: nope"]


def test_an_unknown_time_zone_is_refused_by_the_owner():
    assert errors_of(changed(people__1__timezone="Mars/Olympus")) == [
        "people.1.timezone: unknown time zone 'Mars/Olympus' (an IANA name such as Asia/Shanghai)"
    ]


def test_unknown_fields_and_bad_webhooks_are_named():
    assert errors_of(changed(people__1__password="secret-secret")) == ["people.1.password: Unknown field."]
    bad = changed(people__1__channels={"slack": {"webhook": "ftp://example.com/hook"}})
    assert errors_of(bad) == ["people.1.channels.slack.webhook: Not a valid URL."]
    empty = changed(people__1__channels={"email": "c@example.com", "wecom": {}})
    assert errors_of(empty) == ["people.1.channels.wecom._schema: an empty handle reaches nobody"]


def test_the_cases_projection_has_people_in_teams_as_agents():
    projected = cases_people.agents_directory(cases_people.load(DIRECTORY))
    assert [a["id"] for a in projected["agents"]] == ["wang.lei", "chen.jie"]
    assert projected["teams"] == [{"id": "cx-care", "name": "CX care", "lead": "wang.lei", "calendar": None}]


def test_notifys_projection_implies_team_members_and_checks_handles_per_channel():
    recipients = notify_people.recipients(cases_people.load(DIRECTORY))
    assert recipients["teams"][0]["members"] == ["wang.lei", "chen.jie"]
    assert [p.get("email") for p in recipients["people"]] == ["w@example.com", "c@example.com", None]
    # a vendor field misspelt is the owner's refusal, named where the admin wrote it
    odd = changed(people__1__channels={"dingtalk": {"webhook": "https://x.example/hook", "colour": "red"}})
    assert errors_of(odd) == ["people.1.channels.dingtalk.colour: Unknown field."]


HANDLE_EXAMPLES = {
    "dingtalk": [
        {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=a", "secret": "SEC12345"},
        {"user_id": "u1", "mobile": "+86-138-0000-0000"},
        {"mobile": "12"},
        {"secret": "short"},
        {"webhook": "ftp://x"},
        {"userid": "u1"},
    ],
    "feishu": [
        {"webhook": "http://127.0.0.1:9/hook", "format": "text"},
        {"format": "markdown"},
        {"user_id": ""},
        {"secret": "x" * 201},
    ],
    "wecom": [
        {"webhook": "https://qyapi.weixin.qq.com/x", "format": "markdown"},
        {"format": "card"},
        {"mobile": "abc"},
    ],
    "slack": [{"webhook": "https://hooks.slack.com/services/x", "user_id": "U1"}, {"channel": "#cx"}],
    "teams": [{"user_principal_name": "li.na@example.com"}, {"user_principal_name": "li.na"}],
    "webhook": [
        {"url": "https://crm.example/hook", "secret": "s" * 16, "rate": {"per_minute": 60, "burst": 5}},
        {"url": "https://crm.example/hook"},
        {"url": "https://crm.example/hook", "secret": "s" * 16, "rate": {"per_minute": 0, "burst": 5}},
        {"url": "https://crm.example/hook", "secret": "s" * 16, "rate": {"burst": 5}},
    ],
}


def test_the_contract_reads_each_handle_as_its_channel_does():
    """The contract's handle of each IM channel and notify's channel schema have the same
    fields and accept and refuse the same handles (so a saved directory never bounces
    off notify)."""
    from marshmallow import ValidationError

    from contracts.people import HANDLES, IM_CHANNELS
    from services.notify.channels import CHANNELS

    assert set(HANDLES) == set(IM_CHANNELS) == {name for name in CHANNELS if name != "email"}
    for name, contract in HANDLES.items():
        assert set(contract().fields) == set(CHANNELS[name].Handle().fields), name
        seen = set()
        for handle in HANDLE_EXAMPLES[name]:
            verdicts = []
            for schema in (contract(), CHANNELS[name].Handle()):
                try:
                    schema.load(handle)
                    verdicts.append("accepted")
                except ValidationError:
                    verdicts.append("refused")
            assert verdicts[0] == verdicts[1], (name, handle, verdicts)
            seen.add(verdicts[0])
        assert seen == {"accepted", "refused"}, name  # each channel's examples tell the two apart
