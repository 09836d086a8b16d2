"""The Pusher HTTP API driven by the official `pusher` SDK from PyPI.

Deliveries are observed on raw protocol-7 WebSockets. Error statuses live in
test_http_errors.py.
"""
import hashlib
import hmac
import json

import pytest
from pusher.http import POST, Request
from pusher.pusher_client import PusherClient


def sdk_post(h, path, params):
    """POST through the SDK's own signing and transport.

    For parameters the SDK's helpers do not expose (`info` on events) and for
    the documented terminate_connections path.
    """
    client = PusherClient(h.app_id, h.key, h.secret, ssl=False, host="127.0.0.1", port=h.port)
    return client.http.send_request(Request(client, POST, f"/apps/{h.app_id}{path}", params))


def test_trigger_to_one_channel_reaches_a_subscriber(herald):
    s = herald.subscribed("news")
    assert herald.sdk().trigger("news", "headline", {"title": "hello"}) == {}
    frame = s.event("headline", "news")
    assert isinstance(frame["data"], str), "event data is delivered as the JSON string triggered"
    assert json.loads(frame["data"]) == {"title": "hello"}


def test_trigger_string_data_is_delivered_unchanged(herald):
    s = herald.subscribed("raw")
    herald.sdk().trigger("raw", "text", "plain text, not JSON")
    assert s.event("text", "raw")["data"] == "plain text, not JSON"


def test_trigger_to_several_channels_reaches_each_once(herald):
    a, b = herald.subscribed("chan-a"), herald.subscribed("chan-b")
    both = herald.subscribed("chan-a")
    both.subscribe("chan-b")
    unrelated = herald.subscribed("chan-c")
    herald.sdk().trigger(["chan-a", "chan-b"], "multi", {"n": 1})
    herald.sdk().trigger(["chan-a", "chan-b", "chan-c"], "end", {})
    assert json.loads(a.event("multi", "chan-a")["data"]) == {"n": 1}
    assert json.loads(b.event("multi", "chan-b")["data"]) == {"n": 1}
    for channel in ("chan-a", "chan-b"):
        got = [f["event"] for f in both.events_until("end", channel)]
        assert got == ["multi", "end"], f"{channel}: one copy per channel, got {got}"
    got = [f["event"] for f in unrelated.events_until("end", "chan-c")]
    assert got == ["end"], f"chan-c was not a target of the first trigger, got {got}"


def test_trigger_to_a_hundred_channels_is_accepted(herald):
    s = herald.subscribed("many-99")
    channels = [f"many-{i}" for i in range(100)]
    assert herald.sdk().trigger(channels, "wide", {}) == {}
    s.event("wide", "many-99")


def test_trigger_batch_delivers_every_event_in_order(herald):
    s = herald.subscribed("batch-a")
    s.subscribe("batch-b")
    batch = [
        {"channel": "batch-a", "name": "first", "data": {"i": 1}},
        {"channel": "batch-b", "name": "second", "data": "two"},
        {"channel": "batch-a", "name": "third", "data": {"i": 3}},
    ]
    assert herald.sdk().trigger_batch(batch) == {}
    got = [(f["event"], f["json"]) for f in s.events_until("third", "batch-a")]
    assert got == [("first", {"i": 1}), ("third", {"i": 3})]
    assert s.event("second", "batch-b")["data"] == "two"


def test_trigger_batch_of_ten_is_accepted(herald):
    s = herald.subscribed("ten")
    batch = [{"channel": "ten", "name": f"e{i}", "data": {}} for i in range(10)]
    assert herald.sdk().trigger_batch(batch) == {}
    assert len(s.events_until("e9", "ten")) == 10


def test_socket_id_excludes_that_connection_only(herald):
    sender, other = herald.subscribed("room"), herald.subscribed("room")
    sdk = herald.sdk()
    sdk.trigger("room", "echo", {"from": "sender"}, socket_id=sender.socket_id)
    sdk.trigger("room", "marker", {})
    assert [f["event"] for f in sender.events_until("marker", "room")] == ["marker"], \
        "the connection named by socket_id must not receive the event"
    assert [f["event"] for f in other.events_until("marker", "room")] == ["echo", "marker"]


def test_socket_id_exclusion_in_a_batch(herald):
    sender, other = herald.subscribed("room"), herald.subscribed("room")
    herald.sdk().trigger_batch([
        {"channel": "room", "name": "excluded", "data": {}, "socket_id": sender.socket_id},
        {"channel": "room", "name": "marker", "data": {}},
    ])
    assert [f["event"] for f in sender.events_until("marker", "room")] == ["marker"]
    assert [f["event"] for f in other.events_until("marker", "room")] == ["excluded", "marker"]


def test_trigger_info_user_count_on_a_presence_channel(herald):
    herald.subscribed("presence-lobby", "alice")
    herald.subscribed("presence-lobby", "alice")  # a second tab: still one user
    herald.subscribed("presence-lobby", "bob")
    res = sdk_post(herald, "/events", {"name": "ev", "data": "{}", "channels": ["presence-lobby"],
                                       "info": "user_count"})
    assert res == {"channels": {"presence-lobby": {"user_count": 2}}}


@pytest.mark.app(subscription_count=True)
def test_trigger_info_subscription_count(herald):
    for _ in range(3):
        herald.subscribed("counted")
    res = sdk_post(herald, "/events", {"name": "ev", "data": "{}", "channels": ["counted", "empty"],
                                       "info": "subscription_count"})
    assert res == {"channels": {"counted": {"subscription_count": 3},
                                "empty": {"subscription_count": 0}}}


def test_batch_info_is_index_aligned(herald):
    herald.subscribed("presence-b", "alice")
    res = sdk_post(herald, "/batch_events", {"batch": [
        {"channel": "presence-b", "name": "ev", "data": "{}", "info": "user_count"},
        {"channel": "plain", "name": "ev", "data": "{}"},
    ]})
    assert res == {"batch": [{"user_count": 1}, {}]}


def test_channels_info_lists_occupied_channels_with_prefix_filter(herald):
    herald.subscribed("presence-one", "alice")
    herald.subscribed("presence-one", "bob")
    herald.subscribed("presence-two", "carol")
    herald.subscribed("public-x")
    sdk = herald.sdk()
    assert sdk.channels_info() == {"channels": {"presence-one": {}, "presence-two": {},
                                                "public-x": {}}}
    assert sdk.channels_info(prefix_filter="public-") == {"channels": {"public-x": {}}}
    assert sdk.channels_info(prefix_filter="presence-", attributes=["user_count"]) == {
        "channels": {"presence-one": {"user_count": 2}, "presence-two": {"user_count": 1}}}
    assert sdk.channels_info(prefix_filter="nothing-") == {"channels": {}}


def test_channels_info_forgets_a_channel_when_its_last_subscriber_leaves(herald):
    s = herald.subscribed("fleeting")
    assert "fleeting" in herald.sdk().channels_info()["channels"]
    s.send({"event": "pusher:unsubscribe", "data": {"channel": "fleeting"}})
    s.ping()  # the unsubscribe was processed before the pong
    assert herald.sdk().channels_info() == {"channels": {}}


@pytest.mark.app(subscription_count=True)
def test_channel_info_occupied_and_subscription_count(herald):
    herald.subscribed("watched")
    herald.subscribed("watched")
    sdk = herald.sdk()
    assert sdk.channel_info("watched") == {"occupied": True}
    assert sdk.channel_info("watched", ["subscription_count"]) == {
        "occupied": True, "subscription_count": 2}
    assert sdk.channel_info("nobody-here") == {"occupied": False}


def test_channel_info_user_count_on_presence(herald):
    herald.subscribed("presence-ci", "alice")
    herald.subscribed("presence-ci", "bob")
    assert herald.sdk().channel_info("presence-ci", ["user_count"]) == {
        "occupied": True, "user_count": 2}


def test_users_info_lists_presence_members_once_each(herald):
    herald.subscribed("presence-team", "alice", {"name": "Alice"})
    herald.subscribed("presence-team", "alice", {"name": "Alice"})
    herald.subscribed("presence-team", "bob")
    users = herald.sdk().users_info("presence-team")["users"]
    assert sorted(u["id"] for u in users) == ["alice", "bob"]
    assert all(set(u) == {"id"} for u in users), f"only ids are listed, got {users}"


def signed_in(h, user):
    """A raw socket signed in as `user` with the SDK's authenticate_user."""
    s = h.socket()
    sdk = h.sdk()
    if hasattr(sdk, "authenticate_user"):
        data = sdk.authenticate_user(s.socket_id, user)
    else:  # SDKs before user authentication: sign by hand
        user_data = json.dumps(user)
        digest = hmac.new(h.secret.encode(), f"{s.socket_id}::user::{user_data}".encode(),
                          hashlib.sha256).hexdigest()
        data = {"auth": f"{h.key}:{digest}", "user_data": user_data}
    s.send({"event": "pusher:signin", "data": data})
    ok = s.event("pusher:signin_success")
    assert json.loads(ok["data"]["user_data"])["id"] == user["id"]
    return s


def assert_terminated(sockets, survivors):
    for s in sockets:
        err = s.event("pusher:error")
        assert err["data"]["code"] == 4009, f"terminate sends a 4009 error first, got {err}"
        assert s.wait_closed() == 4009
    for s in survivors:
        s.ping()


def test_terminate_user_connections_with_the_sdk(herald):
    a1, a2 = signed_in(herald, {"id": "alice"}), signed_in(herald, {"id": "alice"})
    bob = signed_in(herald, {"id": "bob"})
    presence_only = herald.subscribed("presence-p", "alice")  # never signed in: stays
    # pusher 3.3.x posts to /users/{id}/terminate_connections (no /apps/{id}
    # prefix, unlike the Node SDK); Herald must accept what the SDK sends.
    assert herald.sdk().terminate_user_connections("alice") == {}
    assert_terminated([a1, a2], [bob, presence_only])


def test_terminate_user_connections_on_the_documented_path(herald):
    a = signed_in(herald, {"id": "alice"})
    bob = signed_in(herald, {"id": "bob"})
    presence_only = herald.subscribed("presence-p", "alice")
    assert sdk_post(herald, "/users/alice/terminate_connections", {}) == {}
    assert_terminated([a], [bob, presence_only])
