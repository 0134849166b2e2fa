"""The README's lead scenario, driven through a client generated from /openapi.json.

Usage: lead_scenario.py <client dir> <base url> <admin token> <fixtures dir> <whatsapp settings json>

The generated package `switchboard_client` is imported from <client dir>; every call goes
through its typed functions and models, so a response the document describes wrongly fails here
(the models parse every answer).
"""

import json
import sys
import time

sys.path.insert(0, sys.argv[1])
base, token, fixtures, whatsapp = sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])

from switchboard_client import AuthenticatedClient  # noqa: E402
from switchboard_client.api.channels import put_channel  # noqa: E402
from switchboard_client.api.events import post_event  # noqa: E402
from switchboard_client.api.runs import get_run, list_runs  # noqa: E402
from switchboard_client.api.workflows import (  # noqa: E402
    create_workflow, delete_workflow, execute_workflow, get_workflow, list_versions,
    list_workflows, patch_workflow, replace_workflow, validate_workflow)
from switchboard_client.models import (  # noqa: E402
    ActivePatch, EventBody, PutChannelChannel, RunView, WhatsAppSettings, WorkflowDefinition)

client = AuthenticatedClient(base_url=base, token=token, headers={"StoreId": "st_default"},
                             raise_on_unexpected_status=True)


def ok(response, status):
    """The parsed body of a response that has the expected status."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response.parsed is not None, response.content
    return response.parsed


def load(name):
    with open(f"{fixtures}/{name}") as f:
        text = "".join(line for line in f if not line.lstrip().startswith("//"))
    return json.loads(text)


lead = WorkflowDefinition.from_dict(load("lead_follow_up.json"))

created = ok(create_workflow.sync_detailed(client=client, body=lead), 201)
assert created.version == 1 and created.active, created
# The seed puts fullName and email inside the template step's config: kept, with warnings.
assert any(w.pointer.startswith("/steps/1/config") for w in created.warnings), created.warnings
wf = created.id

listed = ok(list_workflows.sync_detailed(client=client), 200)
assert [w.id for w in listed.data] == [wf], listed
assert ok(get_workflow.sync_detailed(wf, client=client), 200).name == lead.name
assert ok(replace_workflow.sync_detailed(wf, client=client, body=lead), 200).version == 2
off = ok(patch_workflow.sync_detailed(wf, client=client, body=ActivePatch(active=False)), 200)
assert not off.active
ok(patch_workflow.sync_detailed(wf, client=client, body=ActivePatch(active=True)), 200)
versions = ok(list_versions.sync_detailed(wf, client=client), 200)
assert [v.version for v in versions.data] == [1, 2], versions

# Seed 000's first example has two steps with id step4.
checked = ok(validate_workflow.sync_detailed(
    client=client, body=WorkflowDefinition.from_dict(load("doban_first_contact.jsonc"))), 200)
assert not checked.valid and "/steps/3/id" in [e.pointer for e in checked.errors], checked

channel = ok(put_channel.sync_detailed(
    PutChannelChannel.WHATSAPP, client=client, body=WhatsAppSettings.from_dict(whatsapp)), 200)
assert channel.access_token == "***" and channel.webhook_url.endswith("/channels/whatsapp/st_default")

event = EventBody.from_dict({"eventType": "Lead_Workflow_phase_1", "fullName": "Ana Souza",
                             "email": "ana@example.com", "phoneNumber": "+55 11 98888-7777"})
accepted = ok(post_event.sync_detailed(client=client, body=event, idempotency_key="lead-42"), 202)
assert len(accepted.run_ids) == 1, accepted
again = ok(post_event.sync_detailed(client=client, body=event, idempotency_key="lead-42"), 200)
assert again.event_id == accepted.event_id and again.run_ids == accepted.run_ids

run_id = accepted.run_ids[0]
for _ in range(200):
    run = ok(get_run.sync_detailed(run_id, client=client), 200)
    if run.status in ("completed", "failed"):
        break
    time.sleep(0.05)
assert run.status == "completed", run.to_dict()
assert [s.step_id for s in run.steps] == ["step1", "step2", "step3"], run.to_dict()
assert run.context.variables["leadData"]["leadSource"] == "Lead_Workflow_phase_1", run.to_dict()

completed = ok(list_runs.sync_detailed(client=client, status="completed"), 200)
assert run_id in [r.id for r in completed.data], completed

settled = ok(execute_workflow.sync_detailed(wf, client=client, wait=10), 200)
assert isinstance(settled, RunView) and settled.status in ("completed", "failed"), settled

ok(delete_workflow.sync_detailed(wf, client=client), 200)
assert get_workflow.sync_detailed(wf, client=client).status_code == 404
print("lead scenario: ok")
