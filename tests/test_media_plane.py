"""RouterMediaPlane's bookkeeping: ids to core objects, cleanup order, refusals, events, stats."""

from __future__ import annotations

import random

import pytest

from router.config import PortRange, RouterConfig
from router.errors import Conflict, NotFound
from router.forwarding import ForwardingCore, HopKeys
from router.media import RouterMediaPlane, create_media_plane
from router.mediaplane import ActiveSpeakerEvent, MediaPlane
from router.sessions import Kind
from tests.test_forwarding_helpers import Endpoint
from tests.test_media_udp import publication


def plane() -> RouterMediaPlane:
    return RouterMediaPlane(RouterConfig(media_ports=PortRange(41000, 41000)),
                            core=ForwardingCore(rng=random.Random(5)))


def test_it_is_a_media_plane() -> None:
    assert isinstance(create_media_plane(RouterConfig()), MediaPlane)


async def test_cleanup_in_the_control_plane_order() -> None:
    p = plane()
    await p.add_session("s", e2ee=True)
    info = await p.add_participant("s", "a")
    assert (info.host, info.port, info.protocol) == ("127.0.0.1", 41000, "udp/srtp")
    await p.add_participant("s", "b")
    pub = publication("st", "a", Kind.AUDIO, 0xA1)
    await p.add_publication("s", pub)
    mapping = await p.add_subscription("s", "sub", "b", pub)
    assert list(mapping) == [0xA1] and mapping[0xA1] != 0xA1
    assert p.core.stats()["subscriptions"] == 1
    await p.remove_subscription("s", "sub")
    await p.remove_publication("s", "st")
    assert p.core.stats()["streams"] == p.core.stats()["subscriptions"] == 0
    await p.remove_participant("s", "a")
    await p.remove_participant("s", "b")
    await p.remove_session("s")
    assert p.core.participants == {}


async def test_leftovers_go_with_the_participant_or_the_session() -> None:
    p = plane()
    await p.add_session("s", e2ee=False)
    for pid in ("a", "b", "c"):
        await p.add_participant("s", pid)
    pub = publication("st", "a", Kind.VIDEO, 0xA1)
    await p.add_publication("s", pub)
    await p.add_subscription("s", "sub", "b", pub)
    await p.remove_participant("s", "a")  # takes its stream and b's subscription with it
    assert p.core.stats()["subscriptions"] == 0
    await p.remove_subscription("s", "sub")  # already gone: no error
    await p.remove_session("s")
    assert p.core.participants == {}


async def test_refusals() -> None:
    p = plane()
    with pytest.raises(NotFound):
        await p.add_participant("nope", "a")
    await p.add_session("s", e2ee=True)
    await p.add_participant("s", "a")
    await p.add_participant("s", "b")
    with pytest.raises(Conflict):
        await p.add_participant("s", "a")
    await p.add_publication("s", publication("x", "a", Kind.AUDIO, 0xA1))
    with pytest.raises(Conflict) as info:
        await p.add_publication("s", publication("y", "b", Kind.AUDIO, 0xA1))
    assert info.value.code == "ssrc_in_use"
    # The refused publication left nothing behind.
    assert p.core.stream_owner(0xA1) == "s\x00a"
    with pytest.raises(NotFound):
        await p.add_subscription("s", "sub", "b", publication("z", "a", Kind.AUDIO, 0xB0))


async def test_active_speaker_event_names_session_participant_and_stream() -> None:
    p = plane()
    events: list[ActiveSpeakerEvent] = []
    p.set_event_callback(events.append)
    await p.add_session("s", e2ee=True)
    a = await p.add_participant("s", "alice")
    await p.add_publication("s", publication("mic", "alice", Kind.AUDIO, 0xA1))
    ep = Endpoint(HopKeys(a.client_key.key + a.client_key.salt,
                          a.router_key.key + a.router_key.salt), a.rtcp_ssrc, ("127.0.0.1", 7))
    now = 0.0
    for i in range(50):
        now += 0.02
        p.core.handle_datagram(ep.rtp(0xA1, i, 960 * i, b"x", level=10), ep.addr, now)
        if now >= p.core.next_deadline():
            p.core.handle_timer(now)
    p._on_events(p.core.pop_events())  # what the UDP transport does after a timer tick
    assert [(e.session_id, e.participant_id, e.stream_id) for e in events] == [
        ("s", "alice", "mic")]
    stats = p.stats()
    assert stats.packets_in >= 50 and stats.drops["no_subscribers"] == 50
