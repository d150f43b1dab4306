"""The native asyncio client of the router: join, publish, subscribe, end-to-end encryption.

Layers (see ``docs/client.md``):

* :mod:`~rtpstack.client.core` — :class:`ClientCore`, the sans-IO media state machine (SRTP hop,
  SFrame, RTP carriage, reassembly, NACK/PLI, receiver reports, statistics);
* :mod:`~rtpstack.client.client` — :class:`Client`, the asyncio adapter (signaling WebSocket
  and one UDP socket on 127.0.0.1);
* :mod:`~rtpstack.client.sources` — synthetic audio/video frames of realistic sizes;
* :mod:`~rtpstack.client.capture_source` — the frames of an RTP stream in a capture;
* :mod:`~rtpstack.client.carriage` — the codec carriage for sessions with browser pages
  (``Client(..., carriage="codec")``, ``docs/browser.md``);
* :mod:`~rtpstack.client.events`, :mod:`~rtpstack.client.stats` — what the client reports.
"""

from __future__ import annotations

from rtpstack.client.capture_source import CaptureSource, CaptureSourceError
from rtpstack.client.carriage import Carriage, vp8_strip
from rtpstack.client.client import Client, ClientStats, LocalTrack, RemoteStream
from rtpstack.client.core import (
    ClientCore,
    ReceivedFrame,
    TrackConfig,
    TransportInfo,
    TransportInfoError,
)
from rtpstack.client.events import (
    ACTIVE_SPEAKER,
    ENCRYPTION_SECRET_MATCH,
    ENCRYPTION_SECRET_MISMATCH,
    KEYFRAME_REQUESTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    STREAM_CREATED,
    STREAM_DESTROYED,
    ClientEvent,
)
from rtpstack.client.signaling import SignalingError
from rtpstack.client.sources import (
    AudioSource,
    FrameSource,
    SyntheticFrame,
    VideoSource,
    frame_label,
)
from rtpstack.client.stats import ReceiveStats, SendStats

__all__ = [
    "ACTIVE_SPEAKER",
    "ENCRYPTION_SECRET_MATCH",
    "ENCRYPTION_SECRET_MISMATCH",
    "KEYFRAME_REQUESTED",
    "PARTICIPANT_JOINED",
    "PARTICIPANT_LEFT",
    "STREAM_CREATED",
    "STREAM_DESTROYED",
    "AudioSource",
    "CaptureSource",
    "CaptureSourceError",
    "Carriage",
    "Client",
    "ClientCore",
    "ClientEvent",
    "ClientStats",
    "FrameSource",
    "LocalTrack",
    "ReceiveStats",
    "ReceivedFrame",
    "RemoteStream",
    "SendStats",
    "SignalingError",
    "SyntheticFrame",
    "TrackConfig",
    "TransportInfo",
    "TransportInfoError",
    "VideoSource",
    "frame_label",
    "vp8_strip",
]
