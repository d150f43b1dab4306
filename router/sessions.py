"""The session model: sessions, participants, publications, subscriptions, archives.

This is the sans-IO heart of the control plane. :class:`SessionRegistry` holds every session
and enforces the rules; it never touches a socket or a clock (``now`` is a parameter), and it
refuses a bad request by raising a :class:`router.errors.RouterError` whose code and message
the HTTP API and the WebSocket both pass on unchanged.

Rules enforced here:

* ``e2ee`` needs ``media_mode`` ``routed`` (a relayed session's media never reaches the router,
  so the router could not vouch for it); ``relayed`` + ``e2ee`` is refused.
* In an e2ee session a track must be declared ``encrypted`` (SFrame) to be published.
* Archiving, broadcast and SIP need clear media: refused with 409 in e2ee sessions, naming
  end-to-end encryption. Broadcast and SIP are not offered at all (501) otherwise; archiving
  works on routed non-e2ee sessions.
* Only publishers and moderators publish; nobody subscribes to their own stream; an SSRC
  belongs to one publication in a session (so no participant can claim another's stream).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn

from router.auth import Role
from router.errors import BadRequest, Conflict, Forbidden, NotFound, NotSupported

__all__ = [
    "ID_PATTERN",
    "Archive",
    "Codec",
    "Kind",
    "MediaMode",
    "Participant",
    "Publication",
    "Session",
    "SessionRegistry",
    "Subscription",
    "check_id",
    "parse_track",
]

#: Session, participant, stream and archive ids: 1 to 64 of ``A-Z a-z 0-9 _ -``.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Most SSRCs (layers) one publication may declare.
MAX_SSRCS = 8


def check_id(value: object, what: str) -> str:
    """Return ``value`` if it is a valid id, else raise :class:`BadRequest`."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise BadRequest(f"{what} must be 1 to 64 characters of A-Z a-z 0-9 _ -",
                         code="invalid_id")
    return value


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(6)


class MediaMode(StrEnum):
    """Where media flows: through the router (``routed``) or peer to peer (``relayed``)."""

    ROUTED = "routed"
    RELAYED = "relayed"


class Kind(StrEnum):
    """A track's media kind."""

    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Codec:
    """The RTP payload format of a track (what a subscriber needs to decode it)."""

    name: str
    payload_type: int
    clock_rate: int
    channels: int = 1
    rtx_payload_type: int | None = None
    fmtp: str = ""

    def to_json(self) -> dict[str, Any]:
        """The codec as JSON."""
        return {
            "name": self.name,
            "payload_type": self.payload_type,
            "clock_rate": self.clock_rate,
            "channels": self.channels,
            "rtx_payload_type": self.rtx_payload_type,
            "fmtp": self.fmtp,
        }


@dataclass(frozen=True, slots=True)
class Publication:
    """A published track (a "stream"): who sends it, its SSRCs, codec and extension map.

    ``ssrcs`` are the media SSRCs (one, or one per simulcast layer); ``rtx_ssrcs`` is empty or
    has one retransmission SSRC per media SSRC, in the same order. ``encrypted`` says the
    frames are SFrame ciphertext (declared by the client; the router cannot check it).
    """

    stream_id: str
    participant_id: str
    kind: Kind
    ssrcs: tuple[int, ...]
    rtx_ssrcs: tuple[int, ...]
    codec: Codec
    header_extensions: tuple[tuple[int, str], ...]
    encrypted: bool
    name: str = ""

    @property
    def all_ssrcs(self) -> tuple[int, ...]:
        """Media and RTX SSRCs together."""
        return self.ssrcs + self.rtx_ssrcs

    def to_json(self) -> dict[str, Any]:
        """The publication as the JSON a subscriber sees in ``stream_created``."""
        return {
            "stream_id": self.stream_id,
            "participant_id": self.participant_id,
            "kind": self.kind.value,
            "name": self.name,
            "ssrcs": list(self.ssrcs),
            "rtx_ssrcs": list(self.rtx_ssrcs),
            "codec": self.codec.to_json(),
            "header_extensions": {str(i): uri for i, uri in self.header_extensions},
            "encrypted": self.encrypted,
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    """One participant receiving one publication, with the SSRCs it sees for it.

    ``ssrc_map`` pairs each publisher SSRC (media and RTX) with the SSRC the router rewrites it
    to for this subscriber.
    """

    subscription_id: str
    subscriber_id: str
    stream_id: str
    ssrc_map: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The subscription as JSON."""
        return {
            "subscription_id": self.subscription_id,
            "stream_id": self.stream_id,
            "ssrc_map": {str(a): b for a, b in self.ssrc_map},
        }


@dataclass(slots=True)
class Participant:
    """A connected participant: identity from its token, and what it publishes/receives."""

    participant_id: str
    role: Role
    data: str = ""
    joined_at: float = 0.0
    rtcp_ssrc: int | None = None
    #: Unique to this join within the session and never reused, not even by a rejoin of the
    #: same participant id: e2ee clients build their SFrame key ids from it, so no two
    #: senders (or two joins of one sender) ever share a key (docs/e2ee.md, KID allocation).
    #: The router hands it out but holds no key.
    sender_index: int = 0
    publications: dict[str, Publication] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The participant as other participants and the API see it."""
        return {
            "participant_id": self.participant_id,
            "role": self.role.value,
            "data": self.data,
            "streams": sorted(self.publications),
        }


@dataclass(slots=True)
class Archive:
    """A recording of chosen streams of a session into ``path``."""

    archive_id: str
    stream_ids: tuple[str, ...]
    path: str
    started_at: float
    stopped_at: float | None = None

    @property
    def active(self) -> bool:
        """True until stopped."""
        return self.stopped_at is None

    def to_json(self) -> dict[str, Any]:
        """The archive as JSON."""
        return {
            "archive_id": self.archive_id,
            "streams": list(self.stream_ids),
            "path": self.path,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "status": "recording" if self.active else "stopped",
        }


@dataclass(slots=True)
class Session:
    """A session: its media mode, e2ee flag, and who is in it."""

    session_id: str
    media_mode: MediaMode
    e2ee: bool
    created_at: float
    participants: dict[str, Participant] = field(default_factory=dict)
    archives: dict[str, Archive] = field(default_factory=dict)
    #: The next join's ``sender_index``: counts up from 1 for the session's lifetime.
    next_sender_index: int = 1

    @property
    def publications(self) -> dict[str, Publication]:
        """Every stream published in the session, by stream id."""
        out: dict[str, Publication] = {}
        for p in self.participants.values():
            out.update(p.publications)
        return out

    def to_json(self) -> dict[str, Any]:
        """The session as the API returns it."""
        return {
            "session_id": self.session_id,
            "media_mode": self.media_mode.value,
            "e2ee": self.e2ee,
            "created_at": self.created_at,
            "participants": [p.to_json() for p in self.participants.values()],
            "streams": [pub.to_json() for pub in self.publications.values()],
            "archives": [a.to_json() for a in self.archives.values()],
        }


# --- parsing a track declaration (from a "publish" message) ----------------------------------


def _int_field(d: Mapping[str, Any], key: str, lo: int, hi: int, where: str) -> int:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadRequest(f"{where}{key} must be an integer from {lo} to {hi}",
                         code="invalid_track")
    return value


def _ssrc_list(value: object, key: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 0xFFFFFFFF for s in value
    ):
        raise BadRequest(f"track.{key} must be a list of integers from 0 to 4294967295",
                         code="invalid_track")
    return tuple(value)


def parse_track(
    track: object, *, stream_id: str, participant_id: str
) -> Publication:
    """Validate a track declaration (JSON object) and build its :class:`Publication`."""
    if not isinstance(track, dict):
        raise BadRequest("track must be an object", code="invalid_track")
    kind = track.get("kind")
    if kind not in ("audio", "video"):
        raise BadRequest("track.kind must be 'audio' or 'video'", code="invalid_track")
    if "ssrc" in track and "ssrcs" not in track:
        ssrcs = _ssrc_list([track["ssrc"]], "ssrc")
    else:
        ssrcs = _ssrc_list(track.get("ssrcs"), "ssrcs")
    if not 1 <= len(ssrcs) <= MAX_SSRCS:
        raise BadRequest(f"track.ssrcs must list 1 to {MAX_SSRCS} SSRCs", code="invalid_track")
    rtx = _ssrc_list(track.get("rtx_ssrcs", []), "rtx_ssrcs")
    if rtx and len(rtx) != len(ssrcs):
        raise BadRequest("track.rtx_ssrcs must be empty or pair one RTX SSRC with each SSRC",
                         code="invalid_track")
    if len(set(ssrcs + rtx)) != len(ssrcs) + len(rtx):
        raise BadRequest("track SSRCs must all differ", code="invalid_track")
    codec_json = track.get("codec")
    if not isinstance(codec_json, dict):
        raise BadRequest("track.codec must be an object", code="invalid_track")
    name = codec_json.get("name")
    if not isinstance(name, str) or not name or len(name) > 32:
        raise BadRequest("track.codec.name must be a codec name such as 'opus' or 'VP8'",
                         code="invalid_track")
    pt = _int_field(codec_json, "payload_type", 0, 127, "track.codec.")
    clock = _int_field(codec_json, "clock_rate", 1, 10_000_000, "track.codec.")
    channels = (
        _int_field(codec_json, "channels", 1, 8, "track.codec.")
        if "channels" in codec_json else 1
    )
    rtx_pt: int | None = None
    if codec_json.get("rtx_payload_type") is not None:
        rtx_pt = _int_field(codec_json, "rtx_payload_type", 0, 127, "track.codec.")
    if rtx and rtx_pt is None:
        raise BadRequest("track.codec.rtx_payload_type is needed with rtx_ssrcs",
                         code="invalid_track")
    fmtp = codec_json.get("fmtp", "")
    if not isinstance(fmtp, str):
        raise BadRequest("track.codec.fmtp must be a string", code="invalid_track")
    exts_json = track.get("header_extensions", {})
    if not isinstance(exts_json, dict):
        raise BadRequest("track.header_extensions must map ids to URIs", code="invalid_track")
    exts: list[tuple[int, str]] = []
    for key, uri in exts_json.items():
        ext_id = int(key) if key.isascii() and key.isdigit() and len(key) <= 3 else -1
        if not 1 <= ext_id <= 255 or not isinstance(uri, str) or not uri:
            raise BadRequest(
                "track.header_extensions must map ids 1 to 255 to URIs", code="invalid_track"
            )
        exts.append((ext_id, uri))
    encrypted = track.get("encrypted", False)
    if not isinstance(encrypted, bool):
        raise BadRequest("track.encrypted must be true or false", code="invalid_track")
    label = track.get("name", "")
    if not isinstance(label, str) or len(label) > 128:
        raise BadRequest("track.name must be a string of at most 128 characters",
                         code="invalid_track")
    return Publication(
        stream_id=stream_id,
        participant_id=participant_id,
        kind=Kind(kind),
        ssrcs=ssrcs,
        rtx_ssrcs=rtx,
        codec=Codec(name, pt, clock, channels, rtx_pt, fmtp),
        header_extensions=tuple(sorted(exts)),
        encrypted=encrypted,
        name=label,
    )


# --- the registry ------------------------------------------------------------------------------

_E2EE_CLEAR_MEDIA = (
    "{what} is not possible with end-to-end encryption: this session's media reaches the "
    "router only as ciphertext it cannot decrypt"
)


class SessionRegistry:
    """All sessions of one router, and every rule about them (sans-IO)."""

    def __init__(self, *, e2ee_default: bool = False, e2ee_require: bool = False) -> None:
        self.sessions: dict[str, Session] = {}
        self.e2ee_default = e2ee_default
        self.e2ee_require = e2ee_require

    # sessions
    def create_session(
        self,
        *,
        now: float,
        media_mode: object = "routed",
        e2ee: object = None,
        session_id: object = None,
    ) -> Session:
        """Create a session; refuse relayed + e2ee and (if required) sessions without e2ee."""
        if media_mode not in ("routed", "relayed"):
            raise BadRequest("media_mode must be 'routed' or 'relayed'", code="invalid_request")
        if e2ee is None:
            e2ee = self.e2ee_default
        if not isinstance(e2ee, bool):
            raise BadRequest("e2ee must be true or false", code="invalid_request")
        mode = MediaMode(media_mode)
        if e2ee and mode is MediaMode.RELAYED:
            raise BadRequest(
                "end-to-end encryption needs media_mode 'routed': in a relayed session media "
                "goes peer to peer and the router cannot apply the session's e2ee rules",
                code="e2ee_requires_routed",
            )
        if not e2ee and self.e2ee_require:
            raise BadRequest("this router only creates end-to-end encrypted sessions",
                             code="e2ee_required")
        if session_id is None:
            session_id = _new_id("S")
        sid = check_id(session_id, "session id")
        if sid in self.sessions:
            raise Conflict(f"session {sid!r} already exists", code="session_exists")
        session = Session(sid, mode, e2ee, now)
        self.sessions[sid] = session
        return session

    def get(self, session_id: str) -> Session:
        """The session, or :class:`NotFound`."""
        try:
            return self.sessions[session_id]
        except KeyError:
            raise NotFound(f"no session {session_id!r}", code="session_not_found") from None

    def delete_session(self, session_id: str) -> Session:
        """Remove a session and return it (its participants are for the caller to close)."""
        session = self.get(session_id)
        del self.sessions[session_id]
        return session

    # participants
    def participant(self, session_id: str, participant_id: str) -> Participant:
        """A connected participant, or :class:`NotFound`."""
        session = self.get(session_id)
        try:
            return session.participants[participant_id]
        except KeyError:
            raise NotFound(
                f"participant {participant_id!r} is not connected to session {session_id!r}",
                code="participant_not_found",
            ) from None

    def join(
        self, session_id: str, participant_id: str, role: Role, *, data: str = "",
        now: float,
    ) -> Participant:
        """Add a participant; one connection per participant id."""
        session = self.get(session_id)
        if participant_id in session.participants:
            raise Conflict(f"participant {participant_id!r} is already connected",
                           code="already_joined")
        participant = Participant(participant_id, role, data, now,
                                  sender_index=session.next_sender_index)
        session.next_sender_index += 1
        session.participants[participant_id] = participant
        return participant

    def leave(
        self, session_id: str, participant_id: str
    ) -> tuple[Participant, list[Publication], list[Subscription]]:
        """Remove a participant with its publications and every subscription to them.

        Returns the participant, its publications, and the subscriptions of *other*
        participants that ended because those publications went away.
        """
        session = self.get(session_id)
        participant = self.participant(session_id, participant_id)
        pubs = list(participant.publications.values())
        ended: list[Subscription] = []
        for pub in pubs:
            ended.extend(self._drop_subscriptions_to(session, pub.stream_id))
        del session.participants[participant_id]
        return participant, pubs, ended

    # publications
    def publish(self, session_id: str, participant_id: str, track: object) -> Publication:
        """Validate and add a publication for ``participant_id``."""
        session = self.get(session_id)
        participant = self.participant(session_id, participant_id)
        if not participant.role.can_publish:
            raise Forbidden(f"role {participant.role.value!r} cannot publish",
                            code="forbidden")
        if session.media_mode is MediaMode.RELAYED:
            raise Conflict(
                "this session is relayed: media goes peer to peer, so publish and subscribe "
                "are not used; exchange offer/answer/candidate instead",
                code="relayed_session",
            )
        pub = parse_track(track, stream_id=_new_id("T"), participant_id=participant_id)
        if session.e2ee and not pub.encrypted:
            raise Conflict(
                "this session is end-to-end encrypted: only tracks whose frames are "
                "SFrame-encrypted (\"encrypted\": true) may be published",
                code="encryption_required",
            )
        used = {s for p in session.publications.values() for s in p.all_ssrcs}
        used.update(p.rtcp_ssrc for p in session.participants.values() if p.rtcp_ssrc is not None)
        clash = sorted(used.intersection(pub.all_ssrcs))
        if clash:
            raise Conflict(f"SSRC {clash[0]} is already used in this session", code="ssrc_in_use")
        participant.publications[pub.stream_id] = pub
        return pub

    def publication(self, session_id: str, stream_id: object) -> Publication:
        """A publication of the session, or :class:`NotFound`."""
        if not isinstance(stream_id, str):
            raise BadRequest("stream_id must be a string", code="invalid_request")
        pub = self.get(session_id).publications.get(stream_id)
        if pub is None:
            raise NotFound(f"no stream {stream_id!r} in this session", code="stream_not_found")
        return pub

    def unpublish(
        self, session_id: str, participant_id: str, stream_id: object
    ) -> tuple[Publication, list[Subscription]]:
        """Remove one of the participant's publications; returns it and the ended subscriptions."""
        session = self.get(session_id)
        pub = self.publication(session_id, stream_id)
        if pub.participant_id != participant_id:
            raise Forbidden("only the publisher can unpublish a stream", code="forbidden")
        ended = self._drop_subscriptions_to(session, pub.stream_id)
        del session.participants[participant_id].publications[pub.stream_id]
        return pub, ended

    @staticmethod
    def _drop_subscriptions_to(session: Session, stream_id: str) -> list[Subscription]:
        ended: list[Subscription] = []
        for p in session.participants.values():
            for sub_id, sub in list(p.subscriptions.items()):
                if sub.stream_id == stream_id:
                    ended.append(sub)
                    del p.subscriptions[sub_id]
        return ended

    # subscriptions
    def check_subscribe(
        self, session_id: str, participant_id: str, stream_id: object
    ) -> Publication:
        """Check that ``participant_id`` may subscribe to ``stream_id``; return the stream."""
        session = self.get(session_id)
        participant = self.participant(session_id, participant_id)
        if session.media_mode is MediaMode.RELAYED:
            raise Conflict(
                "this session is relayed: media goes peer to peer, so publish and subscribe "
                "are not used; exchange offer/answer/candidate instead",
                code="relayed_session",
            )
        pub = self.publication(session_id, stream_id)
        if pub.participant_id == participant_id:
            raise BadRequest("cannot subscribe to your own stream", code="own_stream")
        if any(s.stream_id == pub.stream_id for s in participant.subscriptions.values()):
            raise Conflict(f"already subscribed to stream {pub.stream_id!r}",
                           code="already_subscribed")
        return pub

    def new_participant_id(self) -> str:
        """A fresh participant id (for tokens minted without one)."""
        return _new_id("P")

    def new_subscription_id(self) -> str:
        """A fresh subscription id."""
        return _new_id("U")

    def subscribe(
        self, session_id: str, participant_id: str, stream_id: object,
        *, subscription_id: str, ssrc_map: Mapping[int, int],
    ) -> Subscription:
        """Record a subscription (after :meth:`check_subscribe` and the media plane agreed)."""
        pub = self.check_subscribe(session_id, participant_id, stream_id)
        sub = Subscription(subscription_id, participant_id, pub.stream_id,
                           tuple(sorted(ssrc_map.items())))
        self.participant(session_id, participant_id).subscriptions[subscription_id] = sub
        return sub

    def unsubscribe(
        self, session_id: str, participant_id: str, subscription_id: object
    ) -> Subscription:
        """Remove one of the participant's subscriptions."""
        participant = self.participant(session_id, participant_id)
        if not isinstance(subscription_id, str):
            raise BadRequest("subscription_id must be a string", code="invalid_request")
        sub = participant.subscriptions.pop(subscription_id, None)
        if sub is None:
            raise NotFound(f"no subscription {subscription_id!r}",
                           code="subscription_not_found")
        return sub

    # archiving, broadcast, SIP
    def check_archive(self, session_id: str, stream_ids: object) -> tuple[Publication, ...]:
        """Check that the session may be archived; return the chosen streams.

        ``stream_ids`` is a list of stream ids, or ``None`` for every current stream.
        """
        session = self.get(session_id)
        if session.e2ee:
            raise Conflict(_E2EE_CLEAR_MEDIA.format(what="archiving"), code="e2ee_session")
        if session.media_mode is MediaMode.RELAYED:
            raise Conflict(
                "archiving needs a routed session: relayed media never reaches the router",
                code="relayed_session",
            )
        if stream_ids is None:
            pubs = tuple(session.publications.values())
        else:
            if not isinstance(stream_ids, list) or not all(
                isinstance(s, str) for s in stream_ids
            ):
                raise BadRequest("streams must be a list of stream ids", code="invalid_request")
            pubs = tuple(self.publication(session_id, s) for s in dict.fromkeys(stream_ids))
        if not pubs:
            raise BadRequest("there are no streams to archive", code="no_streams")
        return pubs

    def add_archive(
        self, session_id: str, archive_id: str, pubs: tuple[Publication, ...], path: str,
        now: float,
    ) -> Archive:
        """Record that an archive started."""
        archive = Archive(archive_id, tuple(p.stream_id for p in pubs), path, now)
        self.get(session_id).archives[archive_id] = archive
        return archive

    def archive(self, session_id: str, archive_id: str) -> Archive:
        """An archive of the session, or :class:`NotFound`."""
        archive = self.get(session_id).archives.get(archive_id)
        if archive is None:
            raise NotFound(f"no archive {archive_id!r} in this session",
                           code="archive_not_found")
        return archive

    def new_archive_id(self) -> str:
        """A fresh archive id."""
        return _new_id("A")

    def check_clear_media_feature(self, session_id: str, feature: str) -> NoReturn:
        """Broadcast / SIP: 409 in an e2ee session, else 501 (this router does not offer it)."""
        session = self.get(session_id)
        if session.e2ee:
            raise Conflict(_E2EE_CLEAR_MEDIA.format(what=feature), code="e2ee_session")
        raise NotSupported(f"{feature} is not supported by this router", code="not_supported")
