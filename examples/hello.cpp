// The smallest complete use of the library: two endpoints on loopback UDP, one connects to
// the other, sends one lossless message, and the other prints it.
#include <array>
#include <iostream>
#include <string_view>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

int main() {
    using namespace netcrypto;
    SodiumRng rng;
    const Instant now = runtime::monotonic_now();
    EndpointConfig server_config;
    server_config.accept_all = true;  // accept any peer without an IncomingRequest round trip
    Endpoint client(KeyPair::generate(rng), KeyPair::generate(rng), rng, now);
    Endpoint server(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, server_config);

    runtime::Loop loop;
    bool done = false;
    std::optional<ConnectionId> id;
    auto client_events = [&](const Event& e) {
        const auto* s = e.get_if<StatusChanged>();
        if (s != nullptr && s->to == Status::kEstablished) {
            // Lossless messages start with a data id in 16..191; 160 is a custom id.
            constexpr std::string_view kText = "\xA0hello over net_crypto";
            std::array<std::uint8_t, kText.size()> msg{};
            std::copy(kText.begin(), kText.end(), msg.begin());
            (void)client.send_lossless(runtime::monotonic_now(), *id, msg);
        }
    };
    auto server_events = [&](const Event& e) {
        const auto* r = e.get_if<Readable>();
        if (r == nullptr) return;
        std::array<std::uint8_t, kMaxMessageSize> buf{};
        while (auto n = server.read_lossless(runtime::monotonic_now(), r->connection, buf)) {
            if (*n == 0) break;
            std::cout << "server received: "
                      << std::string_view(reinterpret_cast<const char*>(buf.data()) + 1, *n - 1)
                      << std::endl;
            done = true;
        }
    };
    auto client_addr = loop.attach(client, Address::ipv4(127, 0, 0, 1, 0), client_events);
    auto server_addr = loop.attach(server, Address::ipv4(127, 0, 0, 1, 0), server_events);
    if (!client_addr || !server_addr) {
        std::cerr << "bind failed\n";
        return 1;
    }
    auto conn = client.connect(runtime::monotonic_now(), server.public_key(),
                               server.dht_public_key(), *server_addr);
    if (!conn) return 1;
    id = *conn;
    const Instant deadline = runtime::monotonic_now() + std::chrono::seconds{10};
    while (!done && runtime::monotonic_now() < deadline)
        loop.run_once(std::chrono::milliseconds{100});
    (void)client.close(runtime::monotonic_now(), *id);  // sends KILL
    loop.flush();
    return done ? 0 : 1;
}
