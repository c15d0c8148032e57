// FriendLayer presence (NICKNAME, STATUSMESSAGE, USERSTATUS, TYPING), delivery receipts and
// the counting of packets we ignore or find malformed: two endpoints in memory, virtual time.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>

namespace netcrypto::friends {
namespace {

using namespace std::chrono_literals;

/// `prefix` followed by `i` (operator+ on strings trips GCC 12's -Wrestrict).
std::string numbered(std::string prefix, int i) {
    prefix.append(std::to_string(i));
    return prefix;
}

/// What one side's friend layer reported.
struct Seen {
    std::vector<std::pair<std::string, std::string>> info;  ///< (what, value)
    std::vector<UserStatus> user_status;
    std::vector<bool> typing;
    std::vector<std::string> messages;
    std::vector<std::uint32_t> delivered;
    std::vector<std::uint8_t> stream;
    int gone = 0;

    FriendCallbacks callbacks() {
        FriendCallbacks cb;
        cb.on_info = [this](ConnectionId, std::string_view what, std::string_view value) {
            info.emplace_back(what, value);
        };
        cb.on_user_status = [this](ConnectionId, UserStatus s) { user_status.push_back(s); };
        cb.on_typing = [this](ConnectionId, bool t) { typing.push_back(t); };
        cb.on_message = [this](ConnectionId, bool, std::string_view text) {
            messages.emplace_back(text);
        };
        cb.on_delivered = [this](ConnectionId, std::uint32_t n) { delivered.push_back(n); };
        cb.on_stream = [this](ConnectionId, std::span<const std::uint8_t> bytes) {
            stream.insert(stream.end(), bytes.begin(), bytes.end());
        };
        cb.on_gone = [this](ConnectionId) { ++gone; };
        return cb;
    }
};

/// Two endpoints, each with its friend layer, joined in memory; A → B can be cut.
struct Pair {
    Pair()
        : rng_a(11),
          rng_b(12),
          a(KeyPair::generate(rng_a), KeyPair::generate(rng_a), rng_a, now, EndpointConfig{}),
          b(KeyPair::generate(rng_b), KeyPair::generate(rng_b), rng_b, now, accept_all()),
          fa(a, seen_a.callbacks()),
          fb(b, seen_b.callbacks()) {}

    static EndpointConfig accept_all() {
        EndpointConfig c;
        c.accept_all = true;
        return c;
    }

    void pump(bool a_to_b = true) {
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        for (int round = 0; round < 100'000; ++round) {
            bool moved = false;
            while (auto t = a.poll_transmit(now, buf)) {
                moved = true;
                if (a_to_b) b.handle_datagram(now, addr_a, std::span(buf).first(t->size));
            }
            while (auto t = b.poll_transmit(now, buf)) {
                moved = true;
                a.handle_datagram(now, addr_b, std::span(buf).first(t->size));
            }
            while (auto e = a.poll_event()) {
                moved = true;
                if (const auto* s = e->get_if<StatusChanged>())
                    up_a = s->to == Status::kEstablished;
                fa.on_event(now, *e);
            }
            while (auto e = b.poll_event()) {
                moved = true;
                const auto* s = e->get_if<StatusChanged>();
                if (s != nullptr && s->to == Status::kEstablished) id_b = s->connection;
                fb.on_event(now, *e);
            }
            if (!moved) return;
        }
    }
    void advance(Duration d, bool a_to_b = true) {
        const Instant until = now + d;
        while (now < until) {
            now = std::min(until, now + 10ms);
            a.handle_timeout(now);
            b.handle_timeout(now);
            for (auto* f : {&fa, &fb}) {
                if (auto t = f->next_timeout(); t && *t <= now) f->on_timeout(now);
            }
            pump(a_to_b);
        }
    }
    ConnectionId establish() {
        auto id = a.connect(now, b.public_key(), b.dht_public_key(), addr_b);
        EXPECT_TRUE(id.has_value());
        for (int i = 0; i < 100 && !up_a; ++i) advance(10ms);
        EXPECT_TRUE(up_a);
        advance(100ms);
        return *id;
    }
    /// B sends a raw lossless message (bypassing its friend layer).
    void b_sends(std::vector<std::uint8_t> message) {
        ASSERT_TRUE(id_b.has_value());
        ASSERT_TRUE(b.send_lossless(now, *id_b, message).has_value());
    }

    Instant now = instant_from_ms(2'000'000);
    Address addr_a = Address::ipv4(10, 0, 0, 1, 1);
    Address addr_b = Address::ipv4(10, 0, 0, 2, 2);
    SeededRng rng_a;
    SeededRng rng_b;
    Endpoint a;
    Endpoint b;
    Seen seen_a;
    Seen seen_b;
    FriendLayer fa;
    FriendLayer fb;
    bool up_a = false;
    std::optional<ConnectionId> id_b;
};

using Info = std::vector<std::pair<std::string, std::string>>;

TEST(FriendPresence, NameAndStatusSentOnConnectAndOnReconnect) {
    Pair p;
    ASSERT_TRUE(p.fa.set_self(p.now, "alice", "on the train").has_value());
    const ConnectionId id = p.establish();
    EXPECT_EQ(p.seen_b.info, (Info{{"nickname", "alice"}, {"status_message", "on the train"}}));
    EXPECT_EQ(p.seen_b.user_status, std::vector<UserStatus>{UserStatus::kNone});
    EXPECT_EQ(p.seen_b.typing, std::vector<bool>{false});
    // B's empty name and status message arrive too (c-toxcore sends them even when empty).
    EXPECT_EQ(p.seen_a.info, (Info{{"nickname", ""}, {"status_message", ""}}));

    // A change is sent to the connected peer at once; an unchanged field is not resent.
    ASSERT_TRUE(p.fa.set_self(p.now, "alice", "home").has_value());
    p.advance(100ms);
    EXPECT_EQ(p.seen_b.info.back(),
              (std::pair<std::string, std::string>{"status_message", "home"}));
    EXPECT_EQ(p.seen_b.info.size(), 3U);

    // The connection ends and is made again: the presence goes out again.
    ASSERT_TRUE(p.a.close(p.now, id).has_value());
    p.advance(200ms);
    EXPECT_FALSE(p.up_a);
    p.seen_b = Seen{};
    p.establish();
    EXPECT_EQ(p.seen_b.info, (Info{{"nickname", "alice"}, {"status_message", "home"}}));
    EXPECT_EQ(p.seen_b.user_status.size(), 1U);
}

TEST(FriendPresence, SetSelfRefusesTooLongTexts) {
    Pair p;
    EXPECT_TRUE(p.fa.set_self(p.now, std::string(kMaxNameLength, 'n'),
                              std::string(kMaxStatusMessageLength, 's')));
    EXPECT_FALSE(p.fa.set_self(p.now, std::string(kMaxNameLength + 1, 'n'), ""));
    EXPECT_FALSE(p.fa.set_self(p.now, "", std::string(kMaxStatusMessageLength + 1, 's')));
    p.establish();
    ASSERT_EQ(p.seen_b.info.size(), 2U);
    EXPECT_EQ(p.seen_b.info[0].second.size(), kMaxNameLength) << "the refused call changed it";
}

TEST(FriendPresence, ReceiptsExactlyOnceAndInOrder) {
    Pair p;
    const ConnectionId id = p.establish();
    std::vector<std::uint32_t> sent;
    for (int i = 0; i < 5; ++i) {
        auto n = p.fa.send_message(p.now, id, numbered("m", i));
        ASSERT_TRUE(n.has_value());
        sent.push_back(*n);
    }
    EXPECT_TRUE(p.seen_a.delivered.empty()) << "nothing is acknowledged before B answers";
    p.advance(2s);
    EXPECT_EQ(p.seen_a.delivered, sent);

    // Lost on the way: the receipts wait for the retransmissions, still once each, in order.
    std::vector<std::uint32_t> more;
    for (int i = 0; i < 20; ++i) {
        auto n = p.fa.send_message(p.now, id, numbered("lost ", i));
        ASSERT_TRUE(n.has_value());
        more.push_back(*n);
    }
    p.advance(500ms, /*a_to_b=*/false);
    EXPECT_EQ(p.seen_a.delivered.size(), sent.size());
    p.advance(5s);
    sent.insert(sent.end(), more.begin(), more.end());
    EXPECT_EQ(p.seen_a.delivered, sent);
    EXPECT_EQ(p.seen_b.messages.size(), 25U);
}

TEST(FriendPresence, UnimplementedIdsAreIgnoredAndCounted) {
    Pair p;
    const ConnectionId id = p.establish();
    for (std::uint8_t pid :
         {kFriendRequests, kMsi, kFileSendRequest, kFileControl, kFileData, kInviteGroup,
          kInviteConference, std::uint8_t{0x63}, std::uint8_t{170}}) {
        p.b_sends({pid, 1, 2, 3});
    }
    p.b_sends({kFileData, 9});
    p.b_sends({kMessage, 'o', 'k'});
    p.advance(500ms);
    const FriendStats& s = p.fa.stats();
    EXPECT_EQ(s.ignored_by_id[kShareRelays], 0U) << "SHARE_RELAYS is handled now";
    EXPECT_EQ(s.ignored_by_id[kFriendRequests], 1U);
    EXPECT_EQ(s.ignored_by_id[kInviteGroup], 1U);
    EXPECT_EQ(s.ignored_by_id[kFileData], 2U);
    EXPECT_EQ(s.ignored_by_id[170], 1U);
    EXPECT_EQ(s.ignored(), 10U);
    EXPECT_EQ(s.malformed(), 0U);
    EXPECT_TRUE(p.up_a) << "ignored packets must not end the connection";
    EXPECT_EQ(p.seen_a.messages, std::vector<std::string>{"ok"});
    EXPECT_TRUE(p.fa.peer_online(id));
}

TEST(FriendPresence, MalformedPresenceIsDroppedAndCounted) {
    Pair p;
    p.establish();
    p.seen_a = Seen{};
    std::vector<std::uint8_t> long_name(1 + kMaxNameLength + 1, 'n');
    long_name[0] = kNickname;
    std::vector<std::uint8_t> long_status(1 + kMaxStatusMessageLength + 1, 's');
    long_status[0] = kStatusMessage;
    p.b_sends(long_name);
    p.b_sends(long_status);
    p.b_sends({kUserStatus, 3});
    p.b_sends({kUserStatus});
    p.b_sends({kUserStatus, 1, 1});
    p.b_sends({kTyping});
    p.b_sends({kTyping, 1, 0});
    p.b_sends({kMessage});
    p.b_sends({kOnline, 0});
    // Then valid ones: still handled.
    p.b_sends({kUserStatus, 2});
    p.b_sends({kTyping, 1});
    p.b_sends({kNickname, 'b', 'o', 'b'});
    p.advance(500ms);
    const FriendStats& s = p.fa.stats();
    EXPECT_EQ(s.malformed_by_id[kNickname], 1U);
    EXPECT_EQ(s.malformed_by_id[kStatusMessage], 1U);
    EXPECT_EQ(s.malformed_by_id[kUserStatus], 3U);
    EXPECT_EQ(s.malformed_by_id[kTyping], 2U);
    EXPECT_EQ(s.malformed_by_id[kMessage], 1U);
    EXPECT_EQ(s.malformed_by_id[kOnline], 1U);
    EXPECT_EQ(s.malformed(), 9U);
    EXPECT_EQ(s.ignored(), 0U);
    EXPECT_EQ(p.seen_a.user_status, std::vector<UserStatus>{UserStatus::kBusy});
    EXPECT_EQ(p.seen_a.typing, std::vector<bool>{true});
    EXPECT_EQ(p.seen_a.info, (Info{{"nickname", "bob"}}));
    EXPECT_TRUE(p.seen_a.messages.empty());
    EXPECT_TRUE(p.up_a);
}

TEST(FriendPresence, PausedReceiveHoldsMessagesWithoutTimingOut) {
    Pair p;
    const ConnectionId id = p.establish();
    p.fa.pause_receive(p.now, id, true);
    std::vector<std::uint8_t> data(200 * 1024);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
    std::size_t sent = 0;
    for (int i = 0; i < 4000 && sent < data.size(); ++i) {
        auto n = p.fb.send_stream(p.now, *p.id_b, std::span(data).subspan(sent));
        ASSERT_TRUE(n.has_value());
        sent += *n;
        p.advance(10ms);
    }
    EXPECT_TRUE(p.seen_a.stream.empty()) << "nothing is read while paused";
    // Longer than peer_timeout: the unread ALIVEs must not make A drop B.
    p.advance(40s);
    EXPECT_EQ(p.seen_a.gone, 0);
    EXPECT_TRUE(p.up_a);
    p.fa.pause_receive(p.now, id, false);
    for (int i = 0; i < 4000 && sent < data.size(); ++i) {
        auto n = p.fb.send_stream(p.now, *p.id_b, std::span(data).subspan(sent));
        ASSERT_TRUE(n.has_value());
        sent += *n;
        p.advance(10ms);
    }
    p.advance(2s);
    EXPECT_EQ(p.seen_a.stream, data) << "everything arrives, in order, once resumed";
}

}  // namespace
}  // namespace netcrypto::friends
