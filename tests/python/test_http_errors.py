"""HTTP API errors: status codes and plain-text messages that say what to fix.

Requests go through the official SDK where it sends them, and are signed by
hand (`herald.signed`) where the SDK refuses bad input before sending. Every
rejected trigger is followed by a good one, to show nothing was delivered and
the node keeps serving.
"""
import time

import pusher
import pytest

EVENTS = "/apps/{}/events"


def body(channel="errors", data="{}", **extra):
    return {"name": "ev", "channel": channel, "data": data, **extra}


def assert_not_delivered(herald, s, channel="errors"):
    """Triggers a marker; the subscriber must see it and nothing before it."""
    herald.sdk().trigger(channel, "marker", {})
    got = [f["event"] for f in s.events_until("marker", channel)]
    assert got == ["marker"], f"a rejected request must not deliver anything, got {got}"


def poll(check, what, timeout=10.0):
    """Retries `check` until true; settings reach a live node within ~1 s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def assert_message(text, *words):
    low = text.lower()
    missing = [w for w in words if w.lower() not in low]
    assert not missing, f"error message {text!r} should mention {missing}"


# ------------------------------------------------------------------ 413


def test_sdk_trigger_over_the_default_limit_gets_413(herald):
    s = herald.subscribed("errors")
    assert herald.app["max_payload_bytes"] == 10240
    with pytest.raises(pusher.errors.PusherBadStatus) as e:
        herald.sdk().trigger("errors", "big", "x" * 10241)
    assert str(e.value).startswith("413"), str(e.value)
    assert_message(str(e.value), "10240")
    assert_not_delivered(herald, s)


def test_data_at_the_limit_passes_and_one_byte_more_gets_413(herald):
    s = herald.subscribed("errors")
    path = EVENTS.format(herald.app_id)
    ok = herald.signed("POST", path, body(data="x" * 10240))
    assert ok.status_code == 200, ok.text
    assert len(s.event("ev", "errors")["data"]) == 10240
    res = herald.signed("POST", path, body(data="x" * 10241))
    assert res.status_code == 413, res.text
    assert_message(res.text, "10240")
    assert_not_delivered(herald, s)


def test_batch_item_over_the_limit_gets_413(herald):
    s = herald.subscribed("errors")
    res = herald.signed("POST", f"/apps/{herald.app_id}/batch_events",
                        {"batch": [body(), body(data="y" * 10241)]})
    assert res.status_code == 413, res.text
    assert_message(res.text, "10240")
    assert_not_delivered(herald, s)


@pytest.mark.app(max_payload_bytes=100)
def test_payload_limit_is_per_app_and_changes_live(herald):
    path = EVENTS.format(herald.app_id)
    assert herald.signed("POST", path, body(data="z" * 100)).status_code == 200
    res = herald.signed("POST", path, body(data="z" * 101))
    assert res.status_code == 413, res.text
    assert_message(res.text, "100")
    herald.update(max_payload_bytes=200)
    poll(lambda: herald.signed("POST", path, body(data="z" * 150)).status_code == 200,
         "the raised max_payload_bytes to apply")


# ------------------------------------------------------------------ 401


def test_wrong_secret_gets_401(herald):
    s = herald.subscribed("errors")
    with pytest.raises(pusher.errors.PusherBadAuth) as e:
        herald.sdk(secret="not-the-secret").trigger("errors", "ev", {})
    assert_message(str(e.value), "signature")
    assert_not_delivered(herald, s)


def test_wrong_secret_on_a_get_gets_401(herald):
    with pytest.raises(pusher.errors.PusherBadAuth) as e:
        herald.sdk(secret="not-the-secret").channels_info()
    assert_message(str(e.value), "signature")


@pytest.mark.parametrize("skew", [-700, 700], ids=["stale", "future"])
def test_timestamp_outside_600_seconds_gets_401(herald, skew):
    s = herald.subscribed("errors")
    res = herald.signed("POST", EVENTS.format(herald.app_id), body(),
                        timestamp=time.time() + skew)
    assert res.status_code == 401, res.text
    assert_message(res.text, "timestamp")
    assert_not_delivered(herald, s)


def test_timestamp_within_600_seconds_is_accepted(herald):
    res = herald.signed("POST", EVENTS.format(herald.app_id), body(),
                        timestamp=time.time() - 500)
    assert res.status_code == 200, res.text


def test_unknown_key_gets_401(herald):
    res = herald.signed("POST", EVENTS.format(herald.app_id), body(), key="no-such-key")
    assert res.status_code == 401, res.text
    assert_message(res.text, "key")


def test_body_not_matching_body_md5_gets_401(herald):
    s = herald.subscribed("errors")
    res = herald.signed("POST", EVENTS.format(herald.app_id), body(data="signed"),
                        send_instead=body(data="tampered"))
    assert res.status_code == 401, res.text
    assert_message(res.text, "md5")
    assert_not_delivered(herald, s)


# ------------------------------------------------------------------ 404


def test_unknown_app_id_gets_404(herald):
    with pytest.raises(pusher.errors.PusherBadStatus) as e:
        herald.sdk(app_id="999999").trigger("errors", "ev", {})
    assert str(e.value).startswith("404"), str(e.value)
    assert_message(str(e.value), "999999")


# ------------------------------------------------------------------ 400


@pytest.mark.parametrize("channel", ["bad channel!", "x" * 165, "#reserved", ""],
                         ids=["bad-chars", "165-chars", "hash", "empty"])
def test_invalid_channel_name_gets_400(herald, channel):
    s = herald.subscribed("errors")
    res = herald.signed("POST", EVENTS.format(herald.app_id),
                        {"name": "ev", "channels": ["errors", channel], "data": "{}"})
    assert res.status_code == 400, res.text
    assert_message(res.text, "channel")
    assert_not_delivered(herald, s)


def test_more_than_100_channels_gets_400(herald):
    s = herald.subscribed("errors")
    channels = ["errors"] + [f"c{i}" for i in range(100)]
    res = herald.signed("POST", EVENTS.format(herald.app_id),
                        {"name": "ev", "channels": channels, "data": "{}"})
    assert res.status_code == 400, res.text
    assert_message(res.text, "100")
    assert_not_delivered(herald, s)


def test_batch_of_eleven_gets_400(herald):
    s = herald.subscribed("errors")
    batch = [{"channel": "errors", "name": f"e{i}", "data": {}} for i in range(11)]
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        herald.sdk().trigger_batch(batch)
    assert_message(str(e.value), "10")
    assert_not_delivered(herald, s)


@pytest.mark.parametrize("bad,field", [
    ({"channel": "errors", "data": "{}"}, "name"),
    ({"name": "ev", "data": "{}"}, "channel"),
    ({"name": "ev", "channel": "errors"}, "data"),
    ({"name": "ev", "channel": "errors", "data": "{}", "socket_id": "not-a-socket-id"}, "socket_id"),
], ids=["no-name", "no-channel", "no-data", "bad-socket-id"])
def test_incomplete_or_malformed_event_gets_400(herald, bad, field):
    res = herald.signed("POST", EVENTS.format(herald.app_id), bad)
    assert res.status_code == 400, res.text
    assert_message(res.text, field)


def test_body_that_is_not_json_gets_400(herald):
    res = herald.signed("POST", EVENTS.format(herald.app_id), b'{"name": "ev", "chan')
    assert res.status_code == 400, res.text
    assert_message(res.text, "json")


def test_user_count_without_presence_prefix_gets_400(herald):
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        herald.sdk().channels_info(attributes=["user_count"])
    assert_message(str(e.value), "presence")


def test_users_of_a_public_channel_gets_400(herald):
    herald.subscribed("not-presence")
    with pytest.raises(pusher.errors.PusherBadRequest) as e:
        herald.sdk().users_info("not-presence")
    assert_message(str(e.value), "presence")


# ------------------------------------------------------------------ 403


def test_disabled_app_gets_403_and_recovers_when_enabled(herald):
    sdk = herald.sdk()
    assert sdk.trigger("errors", "ev", {}) == {}
    herald.update(enabled=False)
    errors = []

    def forbidden():
        try:
            sdk.trigger("errors", "ev", {})
            return False
        except pusher.errors.PusherForbidden as e:
            errors.append(str(e))
            return True

    poll(forbidden, "403 after `apps update --enabled false`")
    assert_message(errors[-1], "disabled")
    herald.update(enabled=True)

    def accepted():
        try:
            return sdk.trigger("errors", "ev", {}) == {}
        except pusher.errors.PusherForbidden:
            return False

    poll(accepted, "triggers to work again after `--enabled true`")
