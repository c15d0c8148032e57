// Acceptance tests of the crypto connection status machine and the endpoint (issue "Crypto
// connection status machine and endpoint"): one test per transition and per rejection. Each
// asserts the exact sequence of status events on both sides; a rejection also asserts its drop
// counter, that nothing changed (status, handshake sends, no events), and that a legitimate
// exchange afterwards still works.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/fake_peer.hpp"
#include "sim/pair.hpp"

namespace netcrypto::sim {
namespace {

using namespace std::chrono_literals;
using NetDrop = ::netcrypto::DropReason;

/// "From->To" of every status event, with ":reason" when it has one.
Transitions status_events(const EndpointNode& node) {
    Transitions out;
    for (const Event& event : node.events) {
        const auto* e = event.get_if<StatusChanged>();
        if (e == nullptr) continue;
        std::string s = transition_name(*e);
        if (e->reason != CloseReason::kNone) {
            s += ':';
            s += to_string(e->reason);
        }
        out.push_back(s);
    }
    return out;
}

std::size_t count_events(const EndpointNode& node, Event::Kind kind) {
    return static_cast<std::size_t>(
        std::count_if(node.events.begin(), node.events.end(),
                      [kind](const Event& e) { return e.kind() == kind; }));
}

/// Times at which `from` sent packets of type `type` (trace send entries).
std::vector<Instant> send_times(const Simulator& sim, const Address& from, std::uint8_t type) {
    std::vector<Instant> out;
    for (const TraceEntry& t : sim.trace()) {
        if (t.fate == Fate::kSent && t.from == from && t.first_byte == type) out.push_back(t.time);
    }
    return out;
}

/// The instant of the first status event of `node` into `to`, if any.
std::optional<Instant> time_of_status(const EndpointNode& node, Status to) {
    for (std::size_t i = 0; i < node.events.size(); ++i) {
        const auto* e = node.events[i].get_if<StatusChanged>();
        if (e != nullptr && e->to == to) return node.event_times[i];
    }
    return std::nullopt;
}

/// Every connection's status events form one chain: the first announces the first status
/// (from == to: CookieRequesting, or NotConfirmed for an accepted incoming handshake), each
/// next one leaves the status the previous one entered, and Closed ends it.
void expect_chained(const EndpointNode& node) {
    std::map<std::uint64_t, Status> current;  // connection → status entered last
    std::set<std::uint64_t> closed;
    for (const Event& event : node.events) {
        const auto* e = event.get_if<StatusChanged>();
        if (e == nullptr) continue;
        const std::uint64_t id = e->connection.value;
        ASSERT_FALSE(closed.contains(id)) << "an event after Closed: " << transition_name(*e);
        auto it = current.find(id);
        if (it == current.end()) {
            EXPECT_EQ(e->from, e->to) << "first event of a connection: " << transition_name(*e);
            EXPECT_TRUE(e->to == Status::kCookieRequesting || e->to == Status::kNotConfirmed)
                << transition_name(*e);
        } else {
            EXPECT_EQ(e->from, it->second)
                << "from is not the status entered last: " << transition_name(*e);
        }
        current[id] = e->to;
        if (e->to == Status::kClosed) closed.insert(id);
    }
}

const Transitions kInitiatorOpen{"CookieRequesting->CookieRequesting",
                                 "CookieRequesting->HandshakeSending",
                                 "HandshakeSending->NotConfirmed", "NotConfirmed->Established"};
const Transitions kAcceptorOpen{"NotConfirmed->NotConfirmed", "NotConfirmed->Established"};

// --- transitions -------------------------------------------------------------------------------

TEST(StatusMachine, NormalOpen) {
    Pair p(11);
    p.connect_a_to_b();
    auto r = p.run_until_established(5s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kAcceptorOpen);
    expect_chained(p.a);
    expect_chained(p.b);
    EXPECT_EQ(p.a.endpoint().connections().size(), 1U);
    EXPECT_EQ(p.b.endpoint().connections().size(), 1U);
    EXPECT_EQ(p.a.endpoint().stats().total_drops(), 0U);
    EXPECT_EQ(p.b.endpoint().stats().total_drops(), 0U);
    // One round trip each: cookie, handshake, first data packet.
    EXPECT_LE(p.sim.now() - p.sim.start(), 100ms);
}

TEST(StatusMachine, HandshakeBeforeCookieResponse) {
    // Both connect; B's cookie response to A is lost, so A learns B's cookie from B's handshake
    // (seed: "If we received a CryptoHandshake packet earlier than a CookieResponse ...").
    Pair p(12);
    p.sim.add_filter(filters::drop_if(filters::all_of(
        {filters::first_byte_is(0x19), filters::from_to(address_b(), address_a())})));
    p.connect_a_to_b();
    p.connect_b_to_a();
    auto r = p.run_until_established(5s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kInitiatorOpen);
    // A never used a cookie response: it sent one cookie request and answered B's handshake.
    const auto info = p.a.endpoint().info(*p.a.endpoint().find(p.b.key()));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->stats.cookie_requests_sent, 1U);
    EXPECT_EQ(send_times(p.sim, address_a(), 0x1a).size(), 1U);
    EXPECT_EQ(p.a.endpoint().connections().size(), 1U);
    EXPECT_EQ(p.b.endpoint().connections().size(), 1U);
}

TEST(StatusMachine, IncomingAcceptedStartsInNotConfirmed) {
    Pair p(13);
    p.b.accept_incoming = false;  // the application decides later
    p.connect_a_to_b();
    p.sim.run_for(500ms);
    ASSERT_EQ(count_events(p.b, Event::Kind::kIncoming), 1U);
    EXPECT_TRUE(p.b.endpoint().connections().empty());
    EXPECT_TRUE(status_events(p.b).empty());
    const IncomingRequest incoming =
        *std::find_if(p.b.events.begin(), p.b.events.end(), [](const Event& e) {
             return e.kind() == Event::Kind::kIncoming;
         })->get_if<IncomingRequest>();
    EXPECT_EQ(incoming.peer_key, p.a.key());
    EXPECT_EQ(incoming.peer_dht_key, p.a.dht_key());
    EXPECT_EQ(incoming.address, address_a());

    auto id = p.b.endpoint().accept(p.sim.now(), incoming.request);
    ASSERT_TRUE(id);
    EXPECT_EQ(p.b.endpoint().info(*id)->status, Status::kNotConfirmed);
    p.sim.wake(p.idb);
    auto r = p.run_until_established(2s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kAcceptorOpen);
    // The request is used up.
    EXPECT_EQ(p.b.endpoint().accept(p.sim.now(), incoming.request).error(), Error::kNoSuchRequest);
}

TEST(StatusMachine, IncomingRejectedInitiatorTimesOutAfterEightHandshakes) {
    Pair p(14);
    p.b.accept_incoming = false;
    p.b.reject_incoming = true;
    p.connect_a_to_b();
    bool b_ever_connected = false;
    auto r = p.sim.run_until(
        [&] {
            b_ever_connected = b_ever_connected || !p.b.endpoint().connections().empty();
            return p.a.endpoint().connections().empty();
        },
        p.sim.now() + 20s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_FALSE(b_ever_connected);
    EXPECT_TRUE(status_events(p.b).empty());
    EXPECT_EQ(count_events(p.b, Event::Kind::kIncoming), 1U);
    EXPECT_EQ(status_events(p.a), (Transitions{"CookieRequesting->CookieRequesting",
                                               "CookieRequesting->HandshakeSending",
                                               "HandshakeSending->Closed:timed_out"}));
    const auto hs = send_times(p.sim, address_a(), 0x1a);
    ASSERT_EQ(hs.size(), 8U);
    for (std::size_t i = 1; i < hs.size(); ++i) EXPECT_EQ(hs[i] - hs[i - 1], 1s);
    EXPECT_EQ(time_of_status(p.a, Status::kClosed), hs.front() + 8s);
    // Every resend after the rejection is recognised as the same handshake, never re-offered.
    EXPECT_EQ(p.b.endpoint().stats().drops(NetDrop::kReplayedHandshake), 7U);
}

TEST(StatusMachine, SimultaneousOpenGivesOneConnectionPerSide) {
    Pair p(15);
    const auto ida = p.connect_a_to_b();
    const auto idb = p.connect_b_to_a();
    auto r = p.run_until_established(5s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    p.sim.run_for(3s);  // nothing more happens
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kInitiatorOpen);
    ASSERT_EQ(p.a.endpoint().connections(), std::vector<ConnectionId>{ida});
    ASSERT_EQ(p.b.endpoint().connections(), std::vector<ConnectionId>{idb});
    EXPECT_EQ(count_events(p.a, Event::Kind::kIncoming), 0U);
    EXPECT_EQ(count_events(p.b, Event::Kind::kIncoming), 0U);
    EXPECT_TRUE(p.both_established());
    // The session keys agree: data flows both ways.
    const std::vector<std::uint8_t> hello{160, 'h', 'i'};
    ASSERT_TRUE(p.a.endpoint().send_lossless(p.sim.now(), ida, hello));
    ASSERT_TRUE(p.b.endpoint().send_lossless(p.sim.now(), idb, hello));
    p.sim.wake(p.ida);
    p.sim.wake(p.idb);
    p.sim.run_for(200ms);
    EXPECT_EQ(p.a.received, std::vector<std::vector<std::uint8_t>>{hello});
    EXPECT_EQ(p.b.received, std::vector<std::vector<std::uint8_t>>{hello});
}

void expect_eight_cookie_requests_then_timeout(Pair& p, const Address& peer) {
    const Instant t0 = p.sim.now();
    auto id = p.a.endpoint().connect(t0, p.b.key(), p.b.dht_key(), peer);
    ASSERT_TRUE(id);
    p.sim.wake(p.ida);
    auto r = p.sim.run_until([&] { return p.a.endpoint().connections().empty(); }, t0 + 30s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    const auto sends = send_times(p.sim, address_a(), 0x18);
    ASSERT_EQ(sends.size(), 8U) << p.sim.format_trace();
    for (std::size_t i = 0; i < sends.size(); ++i) {
        EXPECT_EQ(sends[i], t0 + std::chrono::seconds{i}) << "send " << i;
    }
    EXPECT_EQ(time_of_status(p.a, Status::kClosed), t0 + 8s);
    EXPECT_EQ(status_events(p.a), (Transitions{"CookieRequesting->CookieRequesting",
                                               "CookieRequesting->Closed:timed_out"}));
    EXPECT_EQ(p.a.endpoint().info(*id).error(), Error::kUnknownConnection);
    EXPECT_EQ(p.a.endpoint().close(p.sim.now(), *id).error(), Error::kUnknownConnection);
}

TEST(StatusMachine, NoAnswerPartitionTimesOutAfterExactlyEightSends) {
    Pair p(16);
    p.sim.set_partition(p.ida, p.idb, true);
    expect_eight_cookie_requests_then_timeout(p, address_b());
    EXPECT_TRUE(status_events(p.b).empty());
}

TEST(StatusMachine, NoAnswerPeerAbsentTimesOutAfterExactlyEightSends) {
    Pair p(17);
    expect_eight_cookie_requests_then_timeout(p, Address::ipv4(10, 0, 0, 99, 33445));
}

TEST(StatusMachine, LostCookieResponsesRecoveredByResends) {
    Pair p(18);
    p.sim.add_filter(filters::drop_first(3, filters::first_byte_is(0x19)));
    const Instant t0 = p.sim.now();
    p.connect_a_to_b();
    auto r = p.run_until_established(10s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kAcceptorOpen);
    EXPECT_EQ(send_times(p.sim, address_a(), 0x18).size(), 4U);
    EXPECT_GE(*time_of_status(p.a, Status::kHandshakeSending), t0 + 3s);
    EXPECT_LT(*time_of_status(p.a, Status::kHandshakeSending), t0 + 3100ms);
}

TEST(StatusMachine, LostInitiatorHandshakesRecoveredByResends) {
    Pair p(19);
    p.sim.add_filter(
        filters::drop_first(3, filters::all_of({filters::first_byte_is(0x1a),
                                                filters::from_to(address_a(), address_b())})));
    p.connect_a_to_b();
    auto r = p.run_until_established(10s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kAcceptorOpen);
    EXPECT_EQ(send_times(p.sim, address_a(), 0x1a).size(), 4U);
}

TEST(StatusMachine, LostAcceptorHandshakesRecoveredByResends) {
    Pair p(20);
    p.sim.add_filter(
        filters::drop_first(3, filters::all_of({filters::first_byte_is(0x1a),
                                                filters::from_to(address_b(), address_a())})));
    p.connect_a_to_b();
    auto r = p.run_until_established(10s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kAcceptorOpen);
    EXPECT_EQ(send_times(p.sim, address_b(), 0x1a).size(), 4U);
    // B's REQUESTs that overtook its lost handshakes found A without a session.
    EXPECT_GE(p.a.endpoint().stats().drops(NetDrop::kWrongStatus), 1U);
}

TEST(StatusMachine, LateDuplicateCookieResponseIgnored) {
    Pair p(21);
    std::vector<std::uint8_t> response;
    p.sim.add_filter([&](const Packet& pk) {
        if (!pk.bytes.empty() && pk.bytes[0] == 0x19 && response.empty()) response = pk.bytes;
        return FilterAction::pass();
    });
    p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established(5s));
    const auto before = status_events(p.a);
    p.a.handle_datagram(p.sim.now(), address_b(), response);
    p.sim.wake(p.ida);
    p.sim.run_for(2s);
    EXPECT_EQ(p.a.endpoint().stats().drops(NetDrop::kWrongStatus), 1U);
    EXPECT_EQ(status_events(p.a), before);
    EXPECT_TRUE(p.both_established());
}

// --- KILL ----------------------------------------------------------------------------------------

void kill_test(bool a_closes) {
    Pair p(a_closes ? 22 : 23);
    p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established(5s));
    p.sim.run_for(100ms);  // let the packets of the open settle (e.g. the confirming REQUEST)
    EndpointNode& closer = a_closes ? p.a : p.b;
    EndpointNode& other = a_closes ? p.b : p.a;
    const auto id = closer.endpoint().find(other.key());
    ASSERT_TRUE(id);
    ASSERT_TRUE(closer.endpoint().close(p.sim.now(), *id));
    p.sim.wake(a_closes ? p.ida : p.idb);
    p.sim.run_for(1s);
    const Transitions& closer_open = a_closes ? kInitiatorOpen : kAcceptorOpen;
    const Transitions& other_open = a_closes ? kAcceptorOpen : kInitiatorOpen;
    Transitions closer_expect = closer_open;
    closer_expect.emplace_back("Established->Closed:closed_locally");
    Transitions other_expect = other_open;
    other_expect.emplace_back("Established->Closed:killed_by_peer");
    EXPECT_EQ(status_events(closer), closer_expect);
    EXPECT_EQ(status_events(other), other_expect);
    expect_chained(closer);
    expect_chained(other);
    EXPECT_TRUE(closer.endpoint().connections().empty());
    EXPECT_TRUE(other.endpoint().connections().empty());
    // Exactly one KILL (a 32-byte data packet) went out, and nothing came back.
    p.sim.run_for(40s);
    EXPECT_TRUE(p.a.endpoint().connections().empty());
    EXPECT_TRUE(p.b.endpoint().connections().empty());
    EXPECT_EQ(closer.endpoint().stats().drops(NetDrop::kUnknownConnection), 0U);
}

TEST(StatusMachine, KillFromInitiator) { kill_test(true); }
TEST(StatusMachine, KillFromAcceptor) { kill_test(false); }

TEST(StatusMachine, CloseBeforeEstablishedSendsNoKill) {
    Pair p(24);
    p.sim.add_filter(filters::drop_if(filters::first_byte_is(0x1a)));  // stay in HandshakeSending
    const auto id = p.connect_a_to_b();
    p.sim.run_for(500ms);
    ASSERT_EQ(p.a.endpoint().info(id)->status, Status::kHandshakeSending);
    const auto data_before = send_times(p.sim, address_a(), 0x1b).size();
    ASSERT_TRUE(p.a.endpoint().close(p.sim.now(), id));
    p.sim.wake(p.ida);
    p.sim.run_for(1s);
    EXPECT_EQ(send_times(p.sim, address_a(), 0x1b).size(), data_before);
    EXPECT_EQ(status_events(p.a), (Transitions{"CookieRequesting->CookieRequesting",
                                               "CookieRequesting->HandshakeSending",
                                               "HandshakeSending->Closed:closed_locally"}));
}

TEST(StatusMachine, CloseInNotConfirmedKillsTheEstablishedPeer) {
    // A's data never reaches B, so A is Established (it got B's REQUEST) while B is still
    // NotConfirmed. B's close() sends KILL anyway: A must not keep a dead connection.
    Pair p(28);
    p.sim.add_filter(filters::drop_if(filters::all_of(
        {filters::first_byte_is(0x1b), filters::from_to(address_a(), address_b())})));
    p.connect_a_to_b();
    auto r = p.sim.run_until([&] { return p.a.status_of(p.b.key()) == Status::kEstablished; },
                             p.sim.now() + 2s);
    ASSERT_TRUE(r) << r;
    const auto idb = p.b.endpoint().find(p.a.key());
    ASSERT_TRUE(idb);
    ASSERT_EQ(p.b.endpoint().info(*idb)->status, Status::kNotConfirmed);
    ASSERT_TRUE(p.b.endpoint().close(p.sim.now(), *idb));
    p.sim.wake(p.idb);
    p.sim.run_for(1s);
    Transitions a_expect = kInitiatorOpen;
    a_expect.emplace_back("Established->Closed:killed_by_peer");
    EXPECT_EQ(status_events(p.a), a_expect);
    EXPECT_EQ(status_events(p.b),
              (Transitions{"NotConfirmed->NotConfirmed", "NotConfirmed->Closed:closed_locally"}));
    EXPECT_TRUE(p.a.endpoint().connections().empty());
}

TEST(StatusMachine, NotConfirmedTimeoutKillsTheEstablishedPeer) {
    // The same half-open state, ended by B's handshake budget: 8 handshakes, then timed_out and
    // a KILL, so A closes with killed_by_peer instead of waiting for its silence timeout.
    Pair p(29);
    p.sim.add_filter(filters::drop_if(filters::all_of(
        {filters::first_byte_is(0x1b), filters::from_to(address_a(), address_b())})));
    p.connect_a_to_b();
    auto r = p.sim.run_until([&] { return time_of_status(p.b, Status::kClosed).has_value(); },
                             p.sim.now() + 20s);
    ASSERT_TRUE(r) << r;
    p.sim.run_for(1s);
    EXPECT_TRUE(p.b.endpoint().connections().empty());
    const auto hs = send_times(p.sim, address_b(), 0x1a);
    ASSERT_EQ(hs.size(), 8U);
    EXPECT_EQ(time_of_status(p.b, Status::kClosed), hs.front() + 8s);
    EXPECT_EQ(status_events(p.b),
              (Transitions{"NotConfirmed->NotConfirmed", "NotConfirmed->Closed:timed_out"}));
    Transitions a_expect = kInitiatorOpen;
    a_expect.emplace_back("Established->Closed:killed_by_peer");
    EXPECT_EQ(status_events(p.a), a_expect);
    EXPECT_LT(*time_of_status(p.a, Status::kClosed), hs.front() + 8s + 100ms);
}

TEST(StatusMachine, HandshakeFromUnboundAddressWhileHandshakingMovesTheConnection) {
    // wire.md §4.4 path B: A dials B at a stale address; B dials A. B's handshake reaches A from an
    // address A's connection is not bound to: A adopts it, answers there and rebinds.
    Pair p(30);
    const Address stale = Address::ipv4(10, 0, 0, 2, 40000);
    const auto ida = p.a.endpoint().connect(p.sim.now(), p.b.key(), p.b.dht_key(), stale);
    ASSERT_TRUE(ida);
    p.sim.wake(p.ida);
    p.connect_b_to_a();
    auto r = p.run_until_established(5s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kInitiatorOpen);
    EXPECT_EQ(p.a.endpoint().info(*ida)->address, address_b());
    EXPECT_EQ(p.a.endpoint().connections(), std::vector<ConnectionId>{*ida});
    EXPECT_EQ(count_events(p.a, Event::Kind::kIncoming), 0U);
    // Data follows the new address.
    const std::vector<std::uint8_t> hello{170, 9};
    ASSERT_TRUE(p.a.endpoint().send_lossless(p.sim.now(), *ida, hello));
    p.sim.wake(p.ida);
    p.sim.run_for(200ms);
    EXPECT_EQ(p.b.received, std::vector<std::vector<std::uint8_t>>{hello});
}

// --- determinism -------------------------------------------------------------------------------

std::uint64_t lossy_run_digest(std::uint64_t seed) {
    LinkConfig link;
    link.delay = 20ms;
    link.jitter = 15ms;
    link.loss_probability = 0.1;
    link.duplicate_probability = 0.05;
    link.reorder_probability = 0.05;
    Pair p(seed, link);
    const auto id = p.connect_a_to_b();
    (void)p.run_until_established(20s);
    std::vector<std::uint8_t> msg(500, 7);
    msg[0] = 170;
    for (int i = 0; i < 50; ++i) (void)p.a.endpoint().send_lossless(p.sim.now(), id, msg);
    p.sim.wake(p.ida);
    p.sim.run_for(5s);
    return p.sim.trace_digest();
}

TEST(StatusMachine, SameSeedSameTraceDigestDifferentSeedDifferent) {
    const auto d1 = lossy_run_digest(99);
    const auto d2 = lossy_run_digest(99);
    const auto d3 = lossy_run_digest(100);
    EXPECT_EQ(d1, d2);
    EXPECT_NE(d1, d3);
}

// --- DHT key changes -----------------------------------------------------------------------------

TEST(StatusMachine, DhtKeyChangeOnBoundAddressRestartsWithCookieRequest) {
    // wire.md §4.9 a: A connects to B using B's old DHT key; B has restarted (new DHT key, same
    // address) and connects to A. B's handshake reaches A from the bound address with a new DHT
    // key: A reports it and starts over with a cookie request to the new key.
    Pair p(25);
    const PublicKey old_dht = p.b.dht_key();
    p.b.restart(p.sim.now(), address_b());
    ASSERT_NE(p.b.dht_key(), old_dht);
    auto ida = p.a.endpoint().connect(p.sim.now(), p.b.key(), old_dht, address_b());
    ASSERT_TRUE(ida);
    p.sim.wake(p.ida);
    p.sim.run_for(5ms);
    p.connect_b_to_a();
    auto r = p.run_until_established(10s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(status_events(p.a),
              (Transitions{"CookieRequesting->CookieRequesting",
                           "CookieRequesting->CookieRequesting:replaced",
                           "CookieRequesting->HandshakeSending", "HandshakeSending->NotConfirmed",
                           "NotConfirmed->Established"}));
    EXPECT_EQ(status_events(p.b), kInitiatorOpen);
    expect_chained(p.a);
    expect_chained(p.b);
    ASSERT_EQ(count_events(p.a, Event::Kind::kDhtKeyChanged), 1U);
    const DhtKeyChanged changed =
        *std::find_if(p.a.events.begin(), p.a.events.end(), [](const Event& e) {
             return e.kind() == Event::Kind::kDhtKeyChanged;
         })->get_if<DhtKeyChanged>();
    EXPECT_EQ(changed.peer_key, p.b.key());
    EXPECT_EQ(changed.peer_dht_key, p.b.dht_key());
    EXPECT_EQ(changed.connection, *ida);
    EXPECT_EQ(p.a.endpoint().info(*ida)->peer_dht_key, p.b.dht_key());
    // B could not open A's requests to its old DHT key.
    EXPECT_GE(p.b.endpoint().stats().drops(NetDrop::kBadTag), 1U);
    EXPECT_EQ(p.a.endpoint().connections().size(), 1U);
}

TEST(StatusMachine, PeerRestartWithNewDhtKeyFromNewAddressReplacesSession) {
    // wire.md §4.4 b / §4.9 b: A and B are established; B restarts with a new DHT key on a new
    // port (the old port is gone) and connects again: A replaces its connection.
    Pair p(26);
    const auto old_id = p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established(5s));
    const Address new_b = second_port(address_b());
    p.sim.add_filter(filters::drop_if([](const Packet& pk) { return pk.to == address_b(); }));
    p.b.restart(p.sim.now(), new_b);
    auto idb = p.b.endpoint().connect(p.sim.now(), p.a.key(), p.a.dht_key(), address_a());
    ASSERT_TRUE(idb);
    p.sim.wake(p.idb);
    auto r = p.run_until_established(5s);
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    p.sim.run_for(2s);

    Transitions a_expect = kInitiatorOpen;
    a_expect.insert(a_expect.end(), {"Established->Closed:replaced", "NotConfirmed->NotConfirmed",
                                     "NotConfirmed->Established"});
    EXPECT_EQ(status_events(p.a), a_expect);
    expect_chained(p.a);
    ASSERT_EQ(count_events(p.a, Event::Kind::kDhtKeyChanged), 1U);
    std::vector<Event> a_status;
    for (const Event& e : p.a.events) {
        if (e.kind() == Event::Kind::kStatus || e.kind() == Event::Kind::kDhtKeyChanged) {
            a_status.push_back(e);
        }
    }
    // ... kDhtKeyChanged, then the old connection closes, then the new one announces itself.
    ASSERT_GE(a_status.size(), 7U);
    ASSERT_EQ(a_status[4].kind(), Event::Kind::kDhtKeyChanged);
    EXPECT_EQ(a_status[4].get_if<DhtKeyChanged>()->peer_dht_key, p.b.dht_key());
    EXPECT_EQ(a_status[5].connection(), old_id);
    ASSERT_TRUE(a_status[5].is<StatusChanged>());
    EXPECT_EQ(a_status[5].get_if<StatusChanged>()->to, Status::kClosed);
    const ConnectionId new_id = *a_status[6].connection();
    EXPECT_NE(new_id, old_id);
    EXPECT_EQ(p.a.endpoint().connections(), std::vector<ConnectionId>{new_id});
    EXPECT_EQ(p.a.endpoint().info(old_id).error(), Error::kUnknownConnection);
    const auto info = p.a.endpoint().info(new_id);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->address, new_b);
    EXPECT_EQ(info->peer_dht_key, p.b.dht_key());
    const Transitions b_all = status_events(p.b);
    ASSERT_EQ(b_all.size(), 6U);
    EXPECT_EQ(Transitions(b_all.begin() + 2, b_all.end()), kInitiatorOpen);
    // A told the old session goodbye (KILL to the old, now dead, address).
    const Instant replaced_at = time_of_status(p.a, Status::kClosed).value();
    std::size_t kills_to_old = 0;
    for (const TraceEntry& t : p.sim.trace()) {
        if (t.fate == Fate::kSent && t.from == address_a() && t.to == address_b() &&
            t.first_byte == 0x1b && t.time == replaced_at && t.size == 32) {
            ++kills_to_old;
        }
    }
    EXPECT_EQ(kills_to_old, 1U);
    // Data flows on the new session.
    const std::vector<std::uint8_t> hello{161, 1, 2, 3};
    ASSERT_TRUE(p.a.endpoint().send_lossless(p.sim.now(), new_id, hello));
    p.sim.wake(p.ida);
    p.sim.run_for(200ms);
    ASSERT_FALSE(p.b.received.empty());
    EXPECT_EQ(p.b.received.back(), hello);
}

TEST(StatusMachine, SameDhtKeyFromNewAddressWhileEstablishedIgnored) {
    // wire.md §4.9: the old DHT key from a new port is ignored once established; here a captured
    // handshake of A's is replayed from another port.
    Pair p(27);
    std::vector<std::uint8_t> a_handshake;
    p.sim.add_filter([&](const Packet& pk) {
        if (!pk.bytes.empty() && pk.bytes[0] == 0x1a && pk.from == address_a() &&
            a_handshake.empty()) {
            a_handshake = pk.bytes;
        }
        return FilterAction::pass();
    });
    p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established(5s));
    const auto before = status_events(p.b);
    const auto id = *p.b.endpoint().find(p.a.key());
    p.b.handle_datagram(p.sim.now(), second_port(address_a()), a_handshake);
    p.sim.wake(p.idb);
    p.sim.run_for(1s);
    EXPECT_EQ(p.b.endpoint().stats().drops(NetDrop::kReplayedHandshake), 1U);
    EXPECT_EQ(status_events(p.b), before);
    EXPECT_EQ(p.b.endpoint().info(id)->address, address_a());
    EXPECT_TRUE(p.both_established());
}

// --- rejections, with a hand-driven fake peer ----------------------------------------------------

/// B under test plus a fake peer F at 10.0.0.3 (and a second fake G at 10.0.0.4).
struct FakeFixture {
    explicit FakeFixture(std::uint64_t seed, EndpointConfig cfg_b = {})
        : p(seed, {}, {}, with_patience(std::move(cfg_b))),
          fake(seed * 7 + 1),
          other(seed * 7 + 2) {
        idf = p.sim.add_node(fnode, {kF});
        idg = p.sim.add_node(gnode, {kG});
    }
    static EndpointConfig with_patience(EndpointConfig c) {
        c.max_handshake_sends = 40;  // B's own attempts outlive every scenario
        return c;
    }

    /// Delivers `bytes` to B as if sent from `from` at `now`, and lets B answer.
    void inject(Instant now, const Address& from, const Bytes& bytes) {
        p.b.handle_datagram(now, from, bytes);
        p.sim.wake(p.idb);
    }
    /// A cookie of B's about `peer` (F or G), issued exactly at the current time.
    wire::Cookie cookie_for(FakePeer& peer, FakeNode& node, const Address& at) {
        const auto n = node.of_type(0x19).size();
        inject(p.sim.now(), at, peer.cookie_request(p.b.dht_key()));
        p.sim.run_for(1ms);
        auto got = p.sim.run_until([&] { return node.of_type(0x19).size() > n; }, p.sim.now() + 1s);
        EXPECT_TRUE(got) << got;
        auto cookie = peer.take_cookie(p.b.dht_key(), node.of_type(0x19).back().bytes);
        EXPECT_TRUE(cookie);
        return cookie.value_or(wire::Cookie{});
    }
    /// B connects to F (bound to F's address): B sits in CookieRequesting.
    ConnectionId b_connects_to_fake() {
        auto id = p.b.endpoint().connect(p.sim.now(), fake.key(), fake.dht_key(), kF);
        EXPECT_TRUE(id);
        p.sim.wake(p.idb);
        return id.value_or(ConnectionId{});
    }
    ConnectionInfo info(ConnectionId id) {
        auto i = p.b.endpoint().info(id);
        EXPECT_TRUE(i);
        return i.value_or(ConnectionInfo{});
    }
    /// The legitimate finish: F's valid handshake, B's answer, F's first data packet.
    void finish_with_fake(ConnectionId id, const wire::Cookie& cookie) {
        const auto hs_before = fnode.of_type(0x1a).size();
        inject(p.sim.now(), kF, fake.handshake(p.sim.now(), p.b.key(), p.b.dht_key(), cookie));
        ASSERT_EQ(info(id).status, Status::kNotConfirmed);
        p.sim.run_for(50ms);
        const auto hs = fnode.of_type(0x1a);
        ASSERT_GT(hs.size(), hs_before);
        ASSERT_TRUE(fake.take_handshake(p.sim.now(), p.b.key(), hs.back().bytes));
        const std::array<std::uint8_t, 1> request{1};
        inject(p.sim.now(), kF, fake.data(request));
        EXPECT_EQ(info(id).status, Status::kEstablished);
    }

    const Address kF = Address::ipv4(10, 0, 0, 3, 33445);
    const Address kG = Address::ipv4(10, 0, 0, 4, 33445);
    Pair p;
    FakePeer fake;
    FakePeer other;
    FakeNode fnode;
    FakeNode gnode;
    NodeId idf = 0;
    NodeId idg = 0;
};

const Transitions kBoundAccept{"CookieRequesting->CookieRequesting",
                               "CookieRequesting->HandshakeSending",
                               "HandshakeSending->NotConfirmed", "NotConfirmed->Established"};

TEST(StatusMachineRejects, FakePeerCompletesHandshake) {
    FakeFixture f(31);
    const auto id = f.b_connects_to_fake();
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    f.finish_with_fake(id, cookie);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 0U);
}

TEST(StatusMachineRejects, TamperedCookieEveryOffsetIsBadTag) {
    FakeFixture f(32);
    const auto id = f.b_connects_to_fake();
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    const auto before = f.info(id);
    const Bytes good = f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), cookie);
    for (std::size_t offset = 1; offset <= wire::kCookieSize; ++offset) {
        Bytes bad = good;
        bad[offset] ^= 0x20U;
        f.inject(f.p.sim.now(), f.kF, bad);
    }
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kCookieBadTag), wire::kCookieSize);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), wire::kCookieSize);
    EXPECT_EQ(f.info(id).status, Status::kCookieRequesting);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    EXPECT_EQ(status_events(f.p.b), (Transitions{"CookieRequesting->CookieRequesting"}));
    f.finish_with_fake(id, cookie);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, TamperedCookieInFlightThenResendWorks) {
    // The same rejection between two real endpoints: A's first handshake gets a flipped cookie
    // byte on the way; B drops it; A's resend one second later completes the handshake.
    Pair p(33);
    int rewritten = 0;
    p.sim.add_filter([&](const Packet& pk) {
        if (pk.bytes.size() == wire::kHandshakeSize && pk.from == address_a() && rewritten == 0) {
            ++rewritten;
            auto b = pk.bytes;
            b[57] ^= 0x01U;
            return FilterAction::replace(std::move(b));
        }
        return FilterAction::pass();
    });
    p.connect_a_to_b();
    p.sim.run_for(500ms);
    EXPECT_EQ(p.b.endpoint().stats().drops(NetDrop::kCookieBadTag), 1U);
    EXPECT_TRUE(p.b.events.empty());
    EXPECT_TRUE(p.b.endpoint().connections().empty());
    auto r = p.run_until_established(5s);
    ASSERT_TRUE(r) << r;
    EXPECT_EQ(status_events(p.a), kInitiatorOpen);
    EXPECT_EQ(status_events(p.b), kAcceptorOpen);
}

TEST(StatusMachineRejects, InnerHashMismatch) {
    FakeFixture f(34);
    const auto id = f.b_connects_to_fake();
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    const auto another = f.cookie_for(f.fake, f.fnode, f.kF);
    ASSERT_NE(cookie, another);
    const auto before = f.info(id);
    // A valid cookie of B's at offset 1, but the payload hashes a different (also valid) one.
    f.inject(f.p.sim.now(), f.kF,
             f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), cookie, &another));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kCookieHashMismatch), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(f.info(id).status, Status::kCookieRequesting);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    // The same on the unbound path (no connection to G): nothing is offered.
    const auto g_cookie = f.cookie_for(f.other, f.gnode, f.kG);
    const auto g_another = f.cookie_for(f.other, f.gnode, f.kG);
    f.inject(f.p.sim.now(), f.kG,
             f.other.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), g_cookie, &g_another));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kCookieHashMismatch), 2U);
    EXPECT_EQ(count_events(f.p.b, Event::Kind::kIncoming), 0U);
    EXPECT_EQ(f.p.b.endpoint().connections().size(), 1U);
    f.finish_with_fake(id, another);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, CookieValidAtExactly8000msExpiredAt8001ms) {
    FakeFixture f(35);
    const auto id = f.b_connects_to_fake();
    const Instant t0 = f.p.sim.now();
    // Cookies issued at t0 and t0 + 1 ms (a cookie request is handled at the injected time).
    f.inject(t0, f.kF, f.fake.cookie_request(f.p.b.dht_key()));
    ASSERT_TRUE(f.p.sim.run_until(t0 + 1ms));
    f.inject(f.p.sim.now(), f.kF, f.fake.cookie_request(f.p.b.dht_key()));
    f.p.sim.run_for(100ms);
    const auto responses = f.fnode.of_type(0x19);
    ASSERT_EQ(responses.size(), 2U);
    const auto c0 = f.fake.take_cookie(f.p.b.dht_key(), responses[0].bytes);
    const auto c1 = f.fake.take_cookie(f.p.b.dht_key(), responses[1].bytes);
    ASSERT_TRUE(c0 && c1);
    ASSERT_NE(*c1, *c0);

    ASSERT_TRUE(f.p.sim.run_until(t0 + 8001ms));
    const auto before = f.info(id);
    f.inject(f.p.sim.now(), f.kF,
             f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), *c0));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kCookieExpired), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(f.info(id).status, before.status);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    EXPECT_EQ(status_events(f.p.b), (Transitions{"CookieRequesting->CookieRequesting"}));
    // c1 is exactly 8000 ms old: still valid.
    f.finish_with_fake(id, *c1);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, CookieFromTheFuture) {
    // Only the issuer opens its cookies, so "from the future" means the issuer's clock went
    // backwards: B sees the handshake at an instant before it issued the cookie.
    FakeFixture f(36);
    const auto id = f.b_connects_to_fake();
    const Instant issued = f.p.sim.now();
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    const auto before = f.info(id);
    f.inject(issued - 1ms, f.kF, f.fake.handshake(issued, f.p.b.key(), f.p.b.dht_key(), cookie));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kCookieFromFuture), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(f.info(id).status, before.status);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    f.finish_with_fake(id, cookie);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, WrongLongTermKeyOnBoundAddress) {
    // B's connection is bound to F's address; G obtains a genuine cookie of B's (about G) and
    // sends a handshake from F's address: the cookie's long-term key is not F's.
    FakeFixture f(37);
    const auto id = f.b_connects_to_fake();
    const auto g_cookie = f.cookie_for(f.other, f.gnode, f.kG);
    const auto before = f.info(id);
    f.inject(f.p.sim.now(), f.kF,
             f.other.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), g_cookie));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kWrongPeerKey), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(f.info(id).status, before.status);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    EXPECT_EQ(count_events(f.p.b, Event::Kind::kIncoming), 0U);
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    f.finish_with_fake(id, cookie);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, PayloadSealedByAnotherKeyIsBadTag) {
    // F's genuine cookie, but the payload is sealed by G's long-term key.
    FakeFixture f(38);
    const auto id = f.b_connects_to_fake();
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    const auto before = f.info(id);
    f.inject(f.p.sim.now(), f.kF,
             f.other.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), cookie));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kBadTag), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(f.info(id).status, before.status);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    f.finish_with_fake(id, cookie);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, SmallOrderSessionKeyIsInvalidKey) {
    // A genuine handshake whose session key is a small-order point (here 0): accepting it would
    // give a session key everybody knows.
    FakeFixture f(42);
    const auto id = f.b_connects_to_fake();
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    const auto before = f.info(id);
    f.fake.announce_session_key(PublicKey{});
    f.inject(f.p.sim.now(), f.kF,
             f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), cookie));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kInvalidKey), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 1U);
    EXPECT_EQ(f.info(id).status, before.status);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    f.fake.new_session();
    f.finish_with_fake(id, cookie);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, CookieResponseWithWrongEchoId) {
    FakeFixture f(39);
    const auto id = f.b_connects_to_fake();
    f.p.sim.run_for(50ms);
    const auto requests = f.fnode.of_type(0x18);
    ASSERT_EQ(requests.size(), 1U);
    const auto before = f.info(id);
    f.inject(f.p.sim.now(), f.kF, f.fake.cookie_response(f.p.sim.now(), requests[0].bytes, true));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kEchoIdMismatch), 1U);
    EXPECT_EQ(f.info(id).status, Status::kCookieRequesting);
    EXPECT_EQ(f.info(id).handshake_sends, before.handshake_sends);
    // From an unbound address, even the right response is not looked at.
    f.inject(f.p.sim.now(), f.kG, f.fake.cookie_response(f.p.sim.now(), requests[0].bytes));
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kUnknownConnection), 1U);
    EXPECT_EQ(f.info(id).status, Status::kCookieRequesting);
    // The genuine response from F's address moves B on.
    f.inject(f.p.sim.now(), f.kF, f.fake.cookie_response(f.p.sim.now(), requests[0].bytes));
    EXPECT_EQ(f.info(id).status, Status::kHandshakeSending);
    EXPECT_EQ(f.info(id).handshake_sends, 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 2U);
}

TEST(StatusMachineRejects, NotConfirmedFollowsNewSessionButNotAReplayedOldOne) {
    // In NotConfirmed a fresh handshake of the same peer (a new connection object on its side)
    // re-keys the session; replaying the earlier handshake afterwards must not switch back
    // (wire.md §8 items 4 and 5).
    FakeFixture f(41);
    const auto id = f.b_connects_to_fake();
    const auto c1 = f.cookie_for(f.fake, f.fnode, f.kF);
    const Bytes first = f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), c1);
    f.inject(f.p.sim.now(), f.kF, first);
    ASSERT_EQ(f.info(id).status, Status::kNotConfirmed);
    f.fake.new_session();
    const auto c2 = f.cookie_for(f.fake, f.fnode, f.kF);
    f.inject(f.p.sim.now(), f.kF,
             f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), c2));
    EXPECT_EQ(f.p.b.endpoint().stats().total_drops(), 0U);
    const auto sends = f.info(id).handshake_sends;
    f.inject(f.p.sim.now(), f.kF, first);  // replay of the old session
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kReplayedHandshake), 1U);
    EXPECT_EQ(f.info(id).status, Status::kNotConfirmed);
    EXPECT_EQ(f.info(id).handshake_sends, sends);
    // The new session is the one in force: its first data packet establishes B.
    f.p.sim.run_for(50ms);
    const auto hs = f.fnode.of_type(0x1a);
    ASSERT_FALSE(hs.empty());
    ASSERT_TRUE(f.fake.take_handshake(f.p.sim.now(), f.p.b.key(), hs.back().bytes));
    const std::array<std::uint8_t, 1> request{1};
    f.inject(f.p.sim.now(), f.kF, f.fake.data(request));
    EXPECT_EQ(f.info(id).status, Status::kEstablished);
    EXPECT_EQ(status_events(f.p.b), kBoundAccept);
}

TEST(StatusMachineRejects, ReplayedIncomingHandshakeNotOfferedTwice) {
    FakeFixture f(40);
    f.p.b.accept_incoming = false;
    f.p.b.reject_incoming = true;
    const auto cookie = f.cookie_for(f.fake, f.fnode, f.kF);
    const Bytes hs = f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), cookie);
    f.inject(f.p.sim.now(), f.kF, hs);
    EXPECT_EQ(count_events(f.p.b, Event::Kind::kIncoming), 1U);
    f.inject(f.p.sim.now(), f.kF, hs);
    f.inject(f.p.sim.now(), f.kG, hs);  // the same bytes from elsewhere
    EXPECT_EQ(count_events(f.p.b, Event::Kind::kIncoming), 1U);
    EXPECT_EQ(f.p.b.endpoint().stats().drops(NetDrop::kReplayedHandshake), 2U);
    EXPECT_TRUE(f.p.b.endpoint().connections().empty());
    // A new session of the same peer is a new request.
    f.p.b.accept_incoming = true;
    f.fake.new_session();
    const auto fresh = f.cookie_for(f.fake, f.fnode, f.kF);
    f.inject(f.p.sim.now(), f.kF,
             f.fake.handshake(f.p.sim.now(), f.p.b.key(), f.p.b.dht_key(), fresh));
    EXPECT_EQ(count_events(f.p.b, Event::Kind::kIncoming), 2U);
    EXPECT_EQ(f.p.b.endpoint().connections().size(), 1U);
    EXPECT_EQ(status_events(f.p.b), (Transitions{"NotConfirmed->NotConfirmed"}));
}

}  // namespace
}  // namespace netcrypto::sim
