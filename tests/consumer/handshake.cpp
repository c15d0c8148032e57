// An installed-netcrypto consumer: two endpoints in memory, one handshake. The client
// connects, the datagrams are carried between the two endpoints by hand (no socket, no clock:
// the time is simulated) and the program exits 0 only when both sides report Established.
// Built outside the source tree by scripts/consumer_test.sh, once with find_package(netcrypto)
// (tests/consumer/find_package) and once with pkg-config (tests/consumer/pkg_config).
#include <array>
#include <cstdint>
#include <iostream>
#include <optional>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/version.hpp>

namespace {

using netcrypto::Address;
using netcrypto::Endpoint;
using netcrypto::Instant;

struct Side {
    const char* name;
    Endpoint endpoint;
    Address address;
    bool established = false;
};

/// Delivers every datagram `from` has to send to `to`. Returns how many were delivered.
int carry(Side& from, Side& to, Instant now) {
    std::array<std::uint8_t, netcrypto::kMaxDatagramSize> buffer{};
    int n = 0;
    while (auto t = from.endpoint.poll_transmit(now, buffer)) {
        if (t->destination == to.address) {
            to.endpoint.handle_datagram(now, from.address, std::span(buffer.data(), t->size));
            ++n;
        }
    }
    return n;
}

void drain_events(Side& side) {
    while (auto e = side.endpoint.poll_event()) {
        if (const auto* s = e->get_if<netcrypto::StatusChanged>()) {
            std::cout << side.name << ": " << netcrypto::to_string(s->to) << '\n';
            if (s->to == netcrypto::Status::kEstablished) side.established = true;
        }
    }
}

}  // namespace

int main() {
    netcrypto::SodiumRng rng;
    Instant now{};
    netcrypto::EndpointConfig server_config;
    server_config.accept_all = true;
    Side client{
        "client",
        Endpoint(netcrypto::KeyPair::generate(rng), netcrypto::KeyPair::generate(rng), rng, now),
        Address::ipv4(10, 0, 0, 1, 33445)};
    Side server{"server",
                Endpoint(netcrypto::KeyPair::generate(rng), netcrypto::KeyPair::generate(rng), rng,
                         now, server_config),
                Address::ipv4(10, 0, 0, 2, 33445)};
    std::cout << "netcrypto " << netcrypto::version() << " (libsodium "
              << netcrypto::sodium_version() << ")\n";

    auto id = client.endpoint.connect(now, server.endpoint.public_key(),
                                      server.endpoint.dht_public_key(), server.address);
    if (!id) {
        std::cerr << "connect failed: " << netcrypto::to_string(id.error()) << '\n';
        return 1;
    }
    for (int round = 0; round < 100 && !(client.established && server.established); ++round) {
        const int moved = carry(client, server, now) + carry(server, client, now);
        drain_events(client);
        drain_events(server);
        if (moved == 0) now += std::chrono::milliseconds{100};  // let timers fire
        client.endpoint.handle_timeout(now);
        server.endpoint.handle_timeout(now);
    }
    if (!(client.established && server.established)) {
        std::cerr << "handshake did not complete\n";
        return 1;
    }
    std::cout << "handshake complete: both sides Established\n";
    return 0;
}
