// decide_handshake: one row per outcome and per drop reason, in the order the rules are checked
// (core/acceptance.hpp; wire.md §3.3 row 4, §4.4, §4.9, §8 items 4 and 5). Rows that differ only
// in an earlier check show which rule wins.
#include "core/acceptance.hpp"

#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace netcrypto::core {
namespace {

PublicKey key(std::uint8_t b) {
    PublicKey k;
    k.bytes.fill(b);
    return k;
}

crypto::Nonce nonce(std::uint8_t b) {
    crypto::Nonce n;
    n.bytes.fill(b);
    return n;
}

const PublicKey kDht = key(1);
const PublicKey kOtherDht = key(2);
const PublicKey kSession = key(3);
const PublicKey kOtherSession = key(4);

HandshakeFacts handshake(const PublicKey& dht, const PublicKey& session = kSession) {
    return {dht, session, nonce(9)};
}

ExistingView existing(Status status, std::optional<HandshakeFacts> session = std::nullopt) {
    return {status, kDht, session};
}

struct Row {
    const char* name;
    HandshakeFacts hs;
    std::optional<ExistingView> conn;
    Arrival arrival;
    bool seen;
    Decision expected;
};

Decision drop(DropReason r) { return {Verdict::kDrop, r}; }
Decision is(Verdict v) { return {v, DropReason::kCount_}; }

const HandshakeFacts kFollowed = handshake(kDht, kSession);

std::vector<Row> rows() {
    using enum Status;
    const auto bound = Arrival::kBoundAddress;
    const auto fresh = Arrival::kNewAddress;
    return {
        // --- path A: from the connection's bound address, in check order ---
        {"A1 NotConfirmed, session seen before: replay (even with another DHT key)",
         handshake(kOtherDht, kOtherSession), existing(kNotConfirmed, kFollowed), bound, true,
         drop(DropReason::kReplayedHandshake)},
        {"A2 Established: ignored whatever its DHT key", handshake(kOtherDht),
         existing(kEstablished), bound, false, drop(DropReason::kWrongStatus)},
        {"A2 Established: a seen session is still a status drop", handshake(kDht),
         existing(kEstablished), bound, true, drop(DropReason::kWrongStatus)},
        {"A2 Closed: ignored", handshake(kDht), existing(kClosed), bound, false,
         drop(DropReason::kWrongStatus)},
        {"A3 CookieRequesting, other DHT key: restart", handshake(kOtherDht),
         existing(kCookieRequesting), bound, false, is(Verdict::kRestart)},
        {"A3 HandshakeSending, other DHT key: restart", handshake(kOtherDht),
         existing(kHandshakeSending), bound, false, is(Verdict::kRestart)},
        {"A3 NotConfirmed, other DHT key: restart", handshake(kOtherDht),
         existing(kNotConfirmed, kFollowed), bound, false, is(Verdict::kRestart)},
        {"A4 NotConfirmed, the followed session again: the peer's resend",
         handshake(kDht, kSession), existing(kNotConfirmed, kFollowed), bound, false,
         drop(DropReason::kReplayedHandshake)},
        {"A4 NotConfirmed, a new session: rekey", handshake(kDht, kOtherSession),
         existing(kNotConfirmed, kFollowed), bound, false, is(Verdict::kRekey)},
        {"A5 CookieRequesting: adopt (simultaneous open)", handshake(kDht),
         existing(kCookieRequesting), bound, false, is(Verdict::kAdopt)},
        {"A5 HandshakeSending: adopt", handshake(kDht), existing(kHandshakeSending), bound, false,
         is(Verdict::kAdopt)},
        {"A5 HandshakeSending, seen: adopt (replays matter from NotConfirmed on)", handshake(kDht),
         existing(kHandshakeSending), bound, true, is(Verdict::kAdopt)},
        // --- path B: from any other address, in check order ---
        {"B1 seen session: replay, before anything else", handshake(kOtherDht), std::nullopt, fresh,
         true, drop(DropReason::kReplayedHandshake)},
        {"B1 seen session with a connection: replay", handshake(kDht), existing(kHandshakeSending),
         fresh, true, drop(DropReason::kReplayedHandshake)},
        {"B2 no connection: offer", handshake(kDht), std::nullopt, fresh, false,
         is(Verdict::kOffer)},
        {"B3 Established, other DHT key: replace", handshake(kOtherDht), existing(kEstablished),
         fresh, false, is(Verdict::kReplace)},
        {"B3 CookieRequesting, other DHT key: replace", handshake(kOtherDht),
         existing(kCookieRequesting), fresh, false, is(Verdict::kReplace)},
        {"B4 CookieRequesting, same DHT key: adopt at the new address", handshake(kDht),
         existing(kCookieRequesting), fresh, false, is(Verdict::kAdopt)},
        {"B4 HandshakeSending, same DHT key: adopt at the new address", handshake(kDht),
         existing(kHandshakeSending), fresh, false, is(Verdict::kAdopt)},
        {"B5 NotConfirmed, same DHT key: ignored", handshake(kDht, kOtherSession),
         existing(kNotConfirmed, kFollowed), fresh, false, drop(DropReason::kWrongStatus)},
        {"B5 Established, same DHT key: ignored", handshake(kDht), existing(kEstablished), fresh,
         false, drop(DropReason::kWrongStatus)},
    };
}

TEST(Acceptance, EveryOutcomeAndDropReasonInCheckOrder) {
    for (const Row& r : rows()) {
        const Decision d = decide_handshake(r.hs, r.conn, r.arrival, r.seen);
        EXPECT_EQ(d.verdict, r.expected.verdict) << r.name;
        EXPECT_EQ(d.drop, r.expected.drop) << r.name;
    }
}

TEST(Acceptance, TheTableCoversEveryVerdictAndEveryDropReason) {
    std::set<Verdict> verdicts;
    std::set<DropReason> drops;
    for (const Row& r : rows()) {
        verdicts.insert(r.expected.verdict);
        if (r.expected.verdict == Verdict::kDrop) drops.insert(r.expected.drop);
    }
    EXPECT_EQ(verdicts.size(), 6U) << "a verdict has no row";
    EXPECT_EQ(drops,
              (std::set<DropReason>{DropReason::kReplayedHandshake, DropReason::kWrongStatus}));
}

TEST(Acceptance, OnlyOutcomesThatFollowASessionRememberIt) {
    EXPECT_TRUE(adopts_session(Verdict::kRekey));
    EXPECT_TRUE(adopts_session(Verdict::kAdopt));
    EXPECT_TRUE(adopts_session(Verdict::kReplace));
    EXPECT_TRUE(adopts_session(Verdict::kOffer));
    EXPECT_FALSE(adopts_session(Verdict::kRestart));  // the handshake is not followed
    EXPECT_FALSE(adopts_session(Verdict::kDrop));
}

}  // namespace
}  // namespace netcrypto::core
