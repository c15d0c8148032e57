// relay::Client (src/core/relay/client.hpp) end to end against the in-test relay
// (tests/support/relay_server.hpp): handshake and confirmation, routing between two clients,
// data both ways, OOB, notifications, pings and timeouts, fatal frames, junk counted by reason,
// and the memory bounds under floods.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/relay/client.hpp"
#include "core/relay/frame.hpp"
#include "support/relay_server.hpp"

namespace netcrypto::relay {
namespace {

using namespace std::chrono_literals;
using testing::ByteVec;
using testing::MiniRelay;
using testing::ServerConn;

std::vector<ClientEvent> drain(Client& c) {
    std::vector<ClientEvent> out;
    while (auto e = c.poll_event()) out.push_back(std::move(*e));
    return out;
}

template <typename T>
std::vector<T> only(const std::vector<ClientEvent>& events) {
    std::vector<T> out;
    for (const auto& e : events) {
        if (const auto* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
}

ByteVec take_written(Client& c) {
    ByteVec out(c.pending_write_bytes());
    EXPECT_EQ(c.poll_write(out), out.size());
    return out;
}

/// One client and the relay's half of its connection.
struct Single {
    SeededRng rng{77};
    KeyPair relay_keys = KeyPair::generate(rng);
    KeyPair self = KeyPair::generate(rng);
    Instant now = instant_from_ms(1'000'000);
    ServerConn server{relay_keys, rng};
    Client client;

    explicit Single(const ClientConfig& cfg = {})
        : client(now, self, relay_keys.public_key, rng, cfg) {}

    /// Client → relay; false if the relay refused the bytes.
    bool up() { return server.receive(take_written(client)); }
    /// Relay → client.
    void down() {
        const ByteVec bytes = server.take_output();
        client.handle_bytes(now, bytes);
    }
    /// Handshake and confirmation; leaves the events drained.
    void connect() {
        ASSERT_TRUE(up());
        down();
        ASSERT_EQ(client.state(), ClientState::kConfirming);
        ASSERT_TRUE(up());
        ASSERT_EQ(server.received.size(), 1U) << "the client must send one frame (a PING) first";
        EXPECT_EQ(server.received[0].size(), 9U);
        EXPECT_EQ(server.received[0][0], kPingId);
        ByteVec pong = server.received[0];
        pong[0] = kPongId;
        server.received.clear();
        server.send(pong);
        down();
        ASSERT_EQ(client.state(), ClientState::kConfirmed);
        const auto events = drain(client);
        ASSERT_EQ(only<Confirmed>(events).size(), 1U);
    }
    void send(const ByteVec& plain) {
        server.send(plain);
        down();
    }
};

TEST(RelayClient, HandshakeThenFirstFrameConfirms) {
    Single s;
    EXPECT_EQ(s.client.state(), ClientState::kConnecting);
    EXPECT_EQ(s.client.pending_write_bytes(), kHandshakeRequestSize);
    EXPECT_EQ(s.client.next_timeout(), s.now + 10s);
    s.connect();
    EXPECT_EQ(s.client.stats().pings_sent, 1U);
    EXPECT_EQ(s.client.stats().pongs_received, 1U);
    EXPECT_EQ(s.server.client_pk(), s.self.public_key);
    EXPECT_EQ(s.client.next_timeout(), s.now + 30s) << "next ping 30 s after the first";
}

TEST(RelayClient, ResponseAndFirstFrameSplitAtEveryByte) {
    for (std::size_t cut = 0; cut <= 96 + 27; ++cut) {
        Single s;
        ASSERT_TRUE(s.up());
        ByteVec stream = s.server.take_output();
        // The relay's first frame can only answer our ping, but the bytes can be prepared ahead:
        // the test server knows the session as soon as it answered.
        s.server.send(ByteVec{kPingId, 1, 2, 3, 4, 5, 6, 7, 8});
        const ByteVec frame = s.server.take_output();
        stream.insert(stream.end(), frame.begin(), frame.end());
        s.client.handle_bytes(s.now, std::span(stream).first(cut));
        s.client.handle_bytes(s.now, std::span(stream).subspan(cut));
        ASSERT_EQ(s.client.state(), ClientState::kConfirmed) << "split at " << cut;
        EXPECT_EQ(s.client.stats().pings_answered, 1U) << "split at " << cut;
    }
}

TEST(RelayClient, RouteRequestedBeforeTheHandshakeIsSentAfterThePing) {
    Single s;
    const PublicKey peer = KeyPair::generate(s.rng).public_key;
    ASSERT_TRUE(s.client.route_request(peer));
    EXPECT_EQ(s.client.route(peer)->state, RouteState::kRequested);
    ASSERT_TRUE(s.up());
    s.down();
    ASSERT_TRUE(s.up());
    ASSERT_EQ(s.server.received.size(), 2U);
    EXPECT_EQ(s.server.received[0][0], kPingId) << "the ping must be the first frame";
    ByteVec req{kRoutingRequestId};
    req.insert(req.end(), peer.bytes.begin(), peer.bytes.end());
    EXPECT_EQ(s.server.received[1], req);
}

TEST(RelayClient, SendsBeforeTheKeysAreKnownAreRefused) {
    Single s;
    const PublicKey peer = KeyPair::generate(s.rng).public_key;
    EXPECT_EQ(s.client.send_oob(peer, ByteVec{1}).error(), ClientError::kNotReady);
    EXPECT_EQ(s.client.send_data(peer, ByteVec{1}).error(), ClientError::kNoRoute);
}

/// Two clients on one MiniRelay.
struct Pair {
    SeededRng rng{78};
    KeyPair relay_keys = KeyPair::generate(rng);
    KeyPair ka = KeyPair::generate(rng);
    KeyPair kb = KeyPair::generate(rng);
    Instant now = instant_from_ms(5'000);
    MiniRelay relay{relay_keys, rng};
    std::size_t ia = relay.add_connection();
    std::size_t ib = relay.add_connection();
    Client a{now, ka, relay_keys.public_key, rng};
    Client b{now, kb, relay_keys.public_key, rng};
    std::vector<ClientEvent> ea, eb;

    void pump() {
        for (int round = 0; round < 8; ++round) {
            ASSERT_TRUE(relay.receive(ia, take_written(a)));
            ASSERT_TRUE(relay.receive(ib, take_written(b)));
            a.handle_bytes(now, relay.conn(ia).take_output());
            b.handle_bytes(now, relay.conn(ib).take_output());
        }
        auto da = drain(a);
        auto db = drain(b);
        ea.insert(ea.end(), da.begin(), da.end());
        eb.insert(eb.end(), db.begin(), db.end());
    }
};

TEST(RelayClient, TwoClientsRouteExchangeDataAndOob) {
    Pair p;
    p.pump();
    ASSERT_EQ(p.a.state(), ClientState::kConfirmed);
    ASSERT_EQ(p.b.state(), ClientState::kConfirmed);
    p.ea.clear();
    p.eb.clear();

    ASSERT_TRUE(p.a.route_request(p.kb.public_key));
    p.pump();
    const auto resp = only<RouteResponse>(p.ea);
    ASSERT_EQ(resp.size(), 1U);
    EXPECT_EQ(resp[0].pk, p.kb.public_key);
    EXPECT_EQ(resp[0].connection_id, 16);
    EXPECT_TRUE(only<Connected>(p.ea).empty()) << "no CONNECT before B routes back";
    EXPECT_EQ(p.a.send_data(p.kb.public_key, ByteVec{1}).error(), ClientError::kNotOnline);

    ASSERT_TRUE(p.b.route_request(p.ka.public_key));
    p.pump();
    ASSERT_EQ(only<Connected>(p.ea).size(), 1U);
    ASSERT_EQ(only<Connected>(p.eb).size(), 1U);
    EXPECT_EQ(p.a.route(p.kb.public_key)->state, RouteState::kOnline);
    EXPECT_EQ(p.b.route(p.ka.public_key)->state, RouteState::kOnline);

    const ByteVec hello{'h', 'e', 'l', 'l', 'o'};
    const ByteVec big(2031, 0xC3);
    ASSERT_TRUE(p.a.send_data(p.kb.public_key, hello));
    ASSERT_TRUE(p.b.send_data(p.ka.public_key, big));
    ASSERT_TRUE(p.a.send_oob(p.kb.public_key, ByteVec(1024, 0x0B)));
    p.pump();
    const auto db = only<Data>(p.eb);
    ASSERT_EQ(db.size(), 1U);
    EXPECT_EQ(db[0].pk, p.ka.public_key);
    EXPECT_EQ(db[0].bytes, hello);
    const auto da = only<Data>(p.ea);
    ASSERT_EQ(da.size(), 1U);
    EXPECT_EQ(da[0].bytes, big);
    const auto oob = only<OobReceived>(p.eb);
    ASSERT_EQ(oob.size(), 1U);
    EXPECT_EQ(oob[0].pk, p.ka.public_key) << "OOB names the sender's key";
    EXPECT_EQ(oob[0].bytes, ByteVec(1024, 0x0B));

    ASSERT_TRUE(p.a.disconnect(p.kb.public_key));
    p.pump();
    ASSERT_EQ(only<Disconnected>(p.eb).size(), 1U);
    EXPECT_EQ(p.b.route(p.ka.public_key)->state, RouteState::kRegistered)
        << "B keeps a registered route when A leaves";
    EXPECT_FALSE(p.a.route(p.kb.public_key));
    EXPECT_EQ(p.a.stats().dropped, (std::array<std::uint64_t, kDropReasonCount>{}));
    EXPECT_EQ(p.b.stats().dropped, (std::array<std::uint64_t, kDropReasonCount>{}));

    ASSERT_TRUE(p.a.route_request(p.kb.public_key)) << "relinking after a disconnect";
    p.pump();
    EXPECT_EQ(p.a.route(p.kb.public_key)->state, RouteState::kOnline);
}

TEST(RelayClient, RefusedRouteIsForgotten) {
    Pair p;
    p.pump();
    ASSERT_TRUE(p.a.route_request(p.ka.public_key));  // own key: the relay answers id 0
    p.pump();
    const auto refused = only<RouteRefused>(p.ea);
    ASSERT_EQ(refused.size(), 1U);
    EXPECT_EQ(refused[0].pk, p.ka.public_key);
    EXPECT_EQ(p.a.routes(), 0U);
}

TEST(RelayClient, RouteAbandonedBeforeItsResponseIsReleased) {
    Single s;
    s.connect();
    const PublicKey peer = KeyPair::generate(s.rng).public_key;
    ASSERT_TRUE(s.client.route_request(peer));
    ASSERT_TRUE(s.client.disconnect(peer));
    EXPECT_EQ(s.client.routes(), 0U);
    ByteVec resp{kRoutingResponseId, 20};
    resp.insert(resp.end(), peer.bytes.begin(), peer.bytes.end());
    s.send(resp);
    EXPECT_TRUE(drain(s.client).empty()) << "no event for an abandoned route";
    ASSERT_TRUE(s.up());
    ASSERT_EQ(s.server.received.size(), 2U);
    EXPECT_EQ(s.server.received[1], (ByteVec{kDisconnectNotificationId, 20}))
        << "the id the relay gave must be handed back";
}

TEST(RelayClient, RouteLimitsAndSendErrors) {
    ClientConfig cfg;
    cfg.max_routes = 2;
    Single s(cfg);
    s.connect();
    SeededRng keys(3);
    const PublicKey p1 = KeyPair::generate(keys).public_key;
    ASSERT_TRUE(s.client.route_request(p1));
    ASSERT_TRUE(s.client.route_request(p1)) << "a repeated request is not a new route";
    ASSERT_TRUE(s.client.route_request(KeyPair::generate(keys).public_key));
    EXPECT_EQ(s.client.route_request(KeyPair::generate(keys).public_key).error(),
              ClientError::kTooManyRoutes);
    EXPECT_EQ(s.client.send_oob(p1, ByteVec{}).error(), ClientError::kBadSize);
    EXPECT_EQ(s.client.send_oob(p1, ByteVec(1025, 1)).error(), ClientError::kBadSize);
    ByteVec resp{kRoutingResponseId, 16};
    resp.insert(resp.end(), p1.bytes.begin(), p1.bytes.end());
    s.send(resp);
    s.send(ByteVec{kConnectNotificationId, 16});
    EXPECT_EQ(s.client.send_data(p1, ByteVec{}).error(), ClientError::kBadSize);
    EXPECT_EQ(s.client.send_data(p1, ByteVec(2032, 1)).error(), ClientError::kBadSize);
    EXPECT_TRUE(s.client.send_data(p1, ByteVec(2031, 1)));
}

TEST(RelayClient, AnswersRelayPingsWithTheSameId) {
    Single s;
    s.connect();
    s.send(ByteVec{kPingId, 0, 0, 0, 0, 0, 0, 0, 0});  // id 0 is answered, as the relay does
    s.send(ByteVec{kPingId, 9, 8, 7, 6, 5, 4, 3, 2});
    ASSERT_TRUE(s.up());
    ASSERT_EQ(s.server.received.size(), 2U);
    EXPECT_EQ(s.server.received[0], (ByteVec{kPongId, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(s.server.received[1], (ByteVec{kPongId, 9, 8, 7, 6, 5, 4, 3, 2}));
}

TEST(RelayClient, PingsEveryIntervalAndClosesWhenAPongIsLate) {
    Single s;
    s.connect();
    const Instant t0 = s.now;
    s.client.handle_timeout(t0 + 29s);
    EXPECT_EQ(s.client.pending_write_bytes(), 0U) << "no ping before 30 s";
    s.now = t0 + 30s;
    s.client.handle_timeout(s.now);
    ASSERT_TRUE(s.up());
    ASSERT_EQ(s.server.received.size(), 1U);
    ASSERT_EQ(s.server.received[0][0], kPingId);
    EXPECT_TRUE(std::any_of(s.server.received[0].begin() + 1, s.server.received[0].end(),
                            [](std::uint8_t b) { return b != 0; }))
        << "ping id 0 must never be sent";
    EXPECT_EQ(s.client.next_timeout(), s.now + 10s);
    s.client.handle_timeout(s.now + 9s);
    EXPECT_EQ(s.client.state(), ClientState::kConfirmed);
    s.client.handle_timeout(s.now + 10s);
    EXPECT_EQ(s.client.state(), ClientState::kClosed);
    EXPECT_EQ(s.client.close_reason(), CloseReason::kPingTimeout);
    const auto closed = only<Closed>(drain(s.client));
    ASSERT_EQ(closed.size(), 1U);
    EXPECT_EQ(closed[0].reason, CloseReason::kPingTimeout);
    EXPECT_EQ(s.client.next_timeout(), std::nullopt);
}

TEST(RelayClient, HandshakeAndConfirmationTimeOut) {
    {
        Single s;
        s.client.handle_timeout(s.now + 9999ms);
        EXPECT_EQ(s.client.state(), ClientState::kConnecting);
        s.client.handle_timeout(s.now + 10s);
        EXPECT_EQ(s.client.close_reason(), CloseReason::kHandshakeTimeout);
    }
    {
        Single s;  // the relay answers the handshake but never a frame
        ASSERT_TRUE(s.up());
        s.down();
        ASSERT_EQ(s.client.state(), ClientState::kConfirming);
        EXPECT_EQ(s.client.next_timeout(), s.now + 10s);
        s.client.handle_timeout(s.now + 10s);
        EXPECT_EQ(s.client.state(), ClientState::kClosed);
    }
}

TEST(RelayClient, BadHandshakeResponseCloses) {
    Single s;
    ASSERT_TRUE(s.up());
    ByteVec resp = s.server.take_output();
    resp[50] ^= 1;
    s.client.handle_bytes(s.now, resp);
    EXPECT_EQ(s.client.close_reason(), CloseReason::kBadHandshake);
    EXPECT_EQ(s.client.pending_write_bytes(), 0U);
}

TEST(RelayClient, BrokenFramesAreFatal) {
    struct Case {
        const char* what;
        CloseReason reason;
    };
    for (const Case& c :
         {Case{"bad tag", CloseReason::kBadTag}, Case{"L = 2049", CloseReason::kFrameTooLong},
          Case{"L = 16", CloseReason::kFrameTooShort},
          Case{"skipped nonce", CloseReason::kBadTag}}) {
        Single s;
        s.connect();
        const std::string what = c.what;
        if (what == "bad tag") {
            ByteVec f = s.server.frame(ByteVec{kPingId, 1, 1, 1, 1, 1, 1, 1, 1});
            f[5] ^= 1;
            s.server.send_raw(f);
        } else if (what == "L = 2049") {
            s.server.send_raw(ByteVec{0x08, 0x01});
        } else if (what == "L = 16") {
            s.server.send_raw(ByteVec(18, 0));
            s.server.out[1] = 16;
        } else {
            s.server.send_nonce().increment();
            s.server.send(ByteVec{kPingId, 1, 1, 1, 1, 1, 1, 1, 1});
        }
        s.down();
        EXPECT_EQ(s.client.state(), ClientState::kClosed) << what;
        EXPECT_EQ(s.client.close_reason(), c.reason) << what;
        EXPECT_EQ(s.client.route_request(PublicKey{}).error(), ClientError::kClosed) << what;
    }
}

TEST(RelayClient, TruncatedFrameDeliversNothingUntilComplete) {
    Single s;
    s.connect();
    const ByteVec frame = s.server.frame(ByteVec(60, kOobRecvId));
    for (std::size_t cut = 1; cut < frame.size(); cut += 7) {
        Single t;
        t.connect();
        const ByteVec f = t.server.frame(ByteVec(60, kOobRecvId));
        t.client.handle_bytes(t.now, std::span(f).first(cut));
        EXPECT_TRUE(drain(t.client).empty())
            << "an event from " << cut << " of " << f.size() << " bytes of a frame";
        EXPECT_EQ(t.client.state(), ClientState::kConfirmed);
        t.client.handle_bytes(t.now, std::span(f).subspan(cut));
        EXPECT_EQ(only<OobReceived>(drain(t.client)).size(), 1U) << "split at " << cut;
    }
    // A stream that ends inside a frame closes without delivering the partial frame.
    s.client.handle_bytes(s.now, std::span(frame).first(frame.size() - 1));
    s.client.handle_eof(s.now);
    const auto events = drain(s.client);
    EXPECT_TRUE(only<OobReceived>(events).empty());
    ASSERT_EQ(only<Closed>(events).size(), 1U);
    EXPECT_EQ(only<Closed>(events)[0].reason, CloseReason::kEndOfStream);
}

TEST(RelayClient, EndOfStreamCloses) {
    Single s;
    s.connect();
    s.client.handle_eof(s.now);
    EXPECT_EQ(s.client.close_reason(), CloseReason::kEndOfStream);
}

TEST(RelayClient, JunkIsDroppedAndCountedByReason) {
    Single s;
    s.connect();
    const PublicKey stranger = KeyPair::generate(s.rng).public_key;
    ByteVec with_key{kRoutingResponseId, 17};
    with_key.insert(with_key.end(), stranger.bytes.begin(), stranger.bytes.end());
    const std::vector<std::pair<ByteVec, DropReason>> junk{
        {ByteVec(33, kRoutingRequestId), DropReason::kWrongDirection},
        {ByteVec(40, kOobSendId), DropReason::kWrongDirection},
        {ByteVec(200, kOnionRequestId), DropReason::kWrongDirection},
        {ByteVec(30, kForwardRequestId), DropReason::kWrongDirection},
        {ByteVec{12, 0}, DropReason::kUnknownId},
        {ByteVec(8, kPingId), DropReason::kWrongLength},
        {ByteVec(33, kOobRecvId), DropReason::kWrongLength},
        {ByteVec{kConnectNotificationId, 5}, DropReason::kBadConnectionId},
        {ByteVec{kDisconnectNotificationId, 15}, DropReason::kBadConnectionId},
        {ByteVec{kConnectNotificationId, 40}, DropReason::kUnknownConnection},
        {ByteVec{40, 1, 2}, DropReason::kUnknownConnection},
        {ByteVec{40}, DropReason::kEmptyData},
        {ByteVec{kPongId, 1, 2, 3, 4, 5, 6, 7, 8}, DropReason::kUnmatchedPong},
        {ByteVec{kPongId, 0, 0, 0, 0, 0, 0, 0, 0}, DropReason::kUnmatchedPong},
        {ByteVec(50, kOnionResponseId), DropReason::kOnion},
        {ByteVec(50, kForwardingId), DropReason::kForwarding},
        {with_key, DropReason::kUnsolicitedRoute},
    };
    for (const auto& [plain, reason] : junk) {
        const std::uint64_t before = s.client.stats().dropped_by(reason);
        s.send(plain);
        EXPECT_EQ(s.client.stats().dropped_by(reason), before + 1)
            << "packet id " << int{plain[0]} << " of " << plain.size() << " bytes not counted as "
            << to_string(reason);
        ASSERT_EQ(s.client.state(), ClientState::kConfirmed)
            << "packet id " << int{plain[0]} << " must not close the connection";
    }
    s.server.send_raw(ByteVec{0, 0});
    s.send(ByteVec{kPingId, 1, 1, 1, 1, 1, 1, 1, 1});
    EXPECT_EQ(s.client.stats().dropped_by(DropReason::kEmptyFrame), 1U);
    EXPECT_EQ(s.client.stats().pings_answered, 1U) << "a frame after L = 0 must still open";
    EXPECT_TRUE(drain(s.client).empty()) << "junk must not produce events";
}

TEST(RelayClient, NotificationsForStaleStatesAreDropped) {
    Single s;
    s.connect();
    const PublicKey peer = KeyPair::generate(s.rng).public_key;
    ASSERT_TRUE(s.client.route_request(peer));
    ByteVec resp{kRoutingResponseId, 30};
    resp.insert(resp.end(), peer.bytes.begin(), peer.bytes.end());
    s.send(resp);
    s.send(resp);
    EXPECT_EQ(s.client.stats().dropped_by(DropReason::kDuplicateRoute), 1U);
    s.send(ByteVec{kDisconnectNotificationId, 30});
    EXPECT_EQ(s.client.stats().dropped_by(DropReason::kStaleNotification), 1U);
    s.send(ByteVec{kConnectNotificationId, 30});
    s.send(ByteVec{kConnectNotificationId, 30});
    EXPECT_EQ(s.client.stats().dropped_by(DropReason::kStaleNotification), 2U);
    s.send(ByteVec{30, 'x'});
    const auto events = drain(s.client);
    EXPECT_EQ(only<RouteResponse>(events).size(), 1U);
    EXPECT_EQ(only<Connected>(events).size(), 1U);
    ASSERT_EQ(only<Data>(events).size(), 1U);
    EXPECT_EQ(only<Data>(events)[0].pk, peer);
}

TEST(RelayClient, FloodsOfRoutingResponsesAndOobStayBounded) {
    ClientConfig cfg;
    cfg.max_events = 100;
    cfg.max_event_bytes = 50 * 1024;
    Single s(cfg);
    s.connect();
    ByteVec resp(kRoutingResponseSize, 0x77);
    resp[0] = kRoutingResponseId;
    ByteVec oob(kMaxOobPacketSize, 0x55);
    oob[0] = kOobRecvId;
    for (int i = 0; i < 3000; ++i) {
        resp[1] = static_cast<std::uint8_t>(16 + i % 240);
        s.server.send(resp);
        s.server.send(oob);
        if (i % 100 == 99) s.down();
    }
    s.down();
    EXPECT_EQ(s.client.state(), ClientState::kConfirmed);
    EXPECT_EQ(s.client.routes(), 0U);
    EXPECT_EQ(s.client.stats().dropped_by(DropReason::kUnsolicitedRoute), 3000U);
    EXPECT_LE(s.client.queued_events(), cfg.max_events);
    EXPECT_LE(s.client.queued_event_bytes(), cfg.max_event_bytes);
    EXPECT_EQ(
        s.client.stats().oob_received + s.client.stats().dropped_by(DropReason::kEventQueueFull),
        3000U);
    EXPECT_EQ(s.client.stats().oob_received, 50U) << "50 KiB of 1024-byte OOB events";
    EXPECT_EQ(drain(s.client).size(), 50U);
}

TEST(RelayClient, WriteQueueIsBoundedAndControlHasReserve) {
    ClientConfig cfg;
    cfg.max_write_bytes = 8 * 1024;
    cfg.control_reserve_bytes = 1024;
    Single s(cfg);
    s.connect();
    const PublicKey peer = KeyPair::generate(s.rng).public_key;
    int sent = 0;
    while (s.client.send_oob(peer, ByteVec(1000, 1))) ++sent;
    EXPECT_EQ(sent, 7) << "7 frames of 1051 bytes fit in 8 KiB, 8 do not";
    EXPECT_EQ(s.client.send_oob(peer, ByteVec(1000, 1)).error(), ClientError::kQueueFull);
    EXPECT_GE(s.client.stats().dropped_by(DropReason::kWriteQueueFull), 1U);
    EXPECT_LE(s.client.pending_write_bytes(), cfg.max_write_bytes);
    s.send(ByteVec{kPingId, 3, 3, 3, 3, 3, 3, 3, 3});
    EXPECT_EQ(s.client.stats().pings_answered, 1U) << "a PONG must fit in the control reserve";
    ASSERT_TRUE(s.up());
    EXPECT_EQ(s.server.received.size(), 8U) << "7 OOB frames and the PONG";
    EXPECT_TRUE(s.client.send_oob(peer, ByteVec(1000, 1))) << "room again once written";
}

TEST(RelayClient, EachRouteHasAShareOfTheWriteQueue) {
    ClientConfig cfg;
    cfg.max_route_write_bytes = 4096;
    Single s(cfg);
    s.connect();
    const PublicKey peer = KeyPair::generate(s.rng).public_key;
    ASSERT_TRUE(s.client.route_request(peer));
    ByteVec resp{kRoutingResponseId, 16};
    resp.insert(resp.end(), peer.bytes.begin(), peer.bytes.end());
    s.send(resp);
    s.send(ByteVec{kConnectNotificationId, 16});
    int sent = 0;
    while (s.client.send_data(peer, ByteVec(1000, 2))) ++sent;
    EXPECT_EQ(sent, 4);
    EXPECT_EQ(s.client.send_data(peer, ByteVec(1000, 2)).error(), ClientError::kRouteQueueFull);
    EXPECT_EQ(s.client.route(peer)->queued_bytes, 4U * 1019U);
    // Written up to the middle of the second data frame (after the 51-byte routing request):
    // only the first frame's share is released.
    ByteVec part(51 + 1019 + 500);
    ASSERT_EQ(s.client.poll_write(part), part.size());
    EXPECT_EQ(s.client.route(peer)->queued_bytes, 3U * 1019U);
    ASSERT_TRUE(s.server.receive(part));
    ASSERT_TRUE(s.up());
    EXPECT_EQ(s.client.route(peer)->queued_bytes, 0U);
    EXPECT_TRUE(s.client.send_data(peer, ByteVec(1000, 2)));
}

}  // namespace
}  // namespace netcrypto::relay
