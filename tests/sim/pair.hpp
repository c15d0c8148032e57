// Two endpoints on a simulated network, the fixture of the status-machine scenarios: A at
// 10.0.0.1:33445 and B at 10.0.0.2:33445. Each node also owns a second port (33446) so a test can
// restart it "on a new port" (EndpointNode::restart).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "sim/endpoint_node.hpp"
#include "sim/simulator.hpp"

namespace netcrypto::sim {

using Transitions = std::vector<std::string>;

inline Address address_a() { return Address::ipv4(10, 0, 0, 1, 33445); }
inline Address address_b() { return Address::ipv4(10, 0, 0, 2, 33445); }
inline Address second_port(Address a) {
    a.port = static_cast<std::uint16_t>(a.port + 1);
    return a;
}

struct Pair {
    explicit Pair(std::uint64_t seed, LinkConfig link = {}, EndpointConfig cfg_a = {},
                  EndpointConfig cfg_b = {}, bool keep_trace = true)
        : sim(SimConfig{.seed = seed, .default_link = link, .keep_trace = keep_trace}),
          a(seed * 2 + 1, address_a(), sim.now(), std::move(cfg_a)),
          b(seed * 2 + 2, address_b(), sim.now(), std::move(cfg_b)) {
        ida = sim.add_node(a, {a.address(), second_port(a.address())});
        idb = sim.add_node(b, {b.address(), second_port(b.address())});
    }

    /// A connects to B (at B's current key, DHT key and address).
    ConnectionId connect_a_to_b() { return connect(a, ida, b); }
    /// B connects to A.
    ConnectionId connect_b_to_a() { return connect(b, idb, a); }

    ConnectionId connect(EndpointNode& from, NodeId from_id, EndpointNode& to) {
        auto id = from.endpoint().connect(sim.now(), to.key(), to.dht_key(), to.address());
        EXPECT_TRUE(id.has_value());
        sim.wake(from_id);
        return id.value_or(ConnectionId{});
    }

    [[nodiscard]] bool both_established() const {
        return a.status_of(b.key()) == Status::kEstablished &&
               b.status_of(a.key()) == Status::kEstablished;
    }

    /// Runs until both sides are Established (true) or `limit` of virtual time passed.
    RunResult run_until_established(Duration limit = std::chrono::seconds{10}) {
        return sim.run_until([this] { return both_established(); }, sim.now() + limit);
    }

    Simulator sim;
    EndpointNode a;
    EndpointNode b;
    NodeId ida = 0;
    NodeId idb = 0;
};

}  // namespace netcrypto::sim
