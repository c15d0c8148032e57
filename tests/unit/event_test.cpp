// The public Event type: one struct per kind in a variant; kind() follows the alternative, and
// the common accessors never read another kind's fields.
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>

namespace netcrypto {
namespace {

PublicKey key(std::uint8_t fill) {
    PublicKey k;
    k.bytes.fill(fill);
    return k;
}

TEST(Event, KindFollowsTheHeldStruct) {
    StatusChanged s;
    s.connection = ConnectionId{7};
    s.from = Status::kNotConfirmed;
    s.to = Status::kEstablished;
    s.peer_key = key(1);
    s.user_tag = 99;
    const Event e = s;
    EXPECT_EQ(e.kind(), Event::Kind::kStatus);
    EXPECT_TRUE(e.is<StatusChanged>());
    EXPECT_FALSE(e.is<Readable>());
    ASSERT_NE(e.get_if<StatusChanged>(), nullptr);
    EXPECT_EQ(*e.get_if<StatusChanged>(), s);
    EXPECT_EQ(e.get_if<IncomingRequest>(), nullptr);
    EXPECT_EQ(e.peer_key(), key(1));
    EXPECT_EQ(e.connection(), ConnectionId{7});
    EXPECT_EQ(e.user_tag(), 99U);

    EXPECT_EQ(Event(IncomingRequest{}).kind(), Event::Kind::kIncoming);
    EXPECT_EQ(Event(DhtKeyChanged{}).kind(), Event::Kind::kDhtKeyChanged);
    EXPECT_EQ(Event(Readable{}).kind(), Event::Kind::kReadable);
    EXPECT_EQ(Event(Writable{}).kind(), Event::Kind::kWritable);
    EXPECT_EQ(Event(Acked{}).kind(), Event::Kind::kAcked);
}

TEST(Event, IncomingRequestHasNoConnection) {
    IncomingRequest in;
    in.request = RequestId{42};
    in.peer_key = key(2);
    in.peer_dht_key = key(3);
    in.address = Address::ipv4(10, 0, 0, 1, 5);
    const Event e = in;
    EXPECT_EQ(e.connection(), std::nullopt);
    EXPECT_EQ(e.user_tag(), std::nullopt);
    EXPECT_EQ(e.peer_key(), key(2));
    EXPECT_EQ(e.get_if<IncomingRequest>()->request, RequestId{42});
    EXPECT_LT(RequestId{1}, RequestId{2});
}

TEST(Event, VisitAndEquality) {
    Acked a;
    a.connection = ConnectionId{3};
    a.peer_key = key(4);
    a.user_tag = 5;
    a.acked_up_to = 17;
    const Event e = a;
    const std::string name = e.visit([](const auto& x) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Acked>) {
            return "acked " + std::to_string(x.acked_up_to);
        } else {
            return "other";
        }
    });
    EXPECT_EQ(name, "acked 17");
    EXPECT_EQ(e, Event(a));
    Acked b = a;
    b.acked_up_to = 18;
    EXPECT_NE(e, Event(b));
    // Same fields, other kind: not equal.
    EXPECT_NE(Event(Readable{a.connection, a.peer_key, a.user_tag}),
              Event(Writable{a.connection, a.peer_key, a.user_tag}));
}

}  // namespace
}  // namespace netcrypto
