// What the endpoint lends a connection while it handles an input: keys, cookie jar, randomness,
// configuration, counters, and the two outputs (datagrams to send, events to report).
#pragma once

#include <cstdint>
#include <span>

#include <netcrypto/endpoint.hpp>

#include "core/cookie.hpp"
#include "core/lossy_queue.hpp"

namespace netcrypto::core {

/// Sink for outputs; implemented by the endpoint (queues, never calls back into the app).
class Outputs {
  public:
    Outputs() = default;
    Outputs(const Outputs&) = delete;
    Outputs& operator=(const Outputs&) = delete;
    Outputs(Outputs&&) = delete;
    Outputs& operator=(Outputs&&) = delete;
    virtual ~Outputs() = default;

    /// Queues a datagram (copied) to `to`.
    virtual void transmit(const Address& to, std::span<const std::uint8_t> bytes) = 0;
    /// Room left in the datagram queue (control packets, lossy data); transmit() drops and
    /// counts a datagram when there is none.
    [[nodiscard]] virtual std::size_t transmit_room() const = 0;
    /// Queues an event for the application.
    virtual void event(const Event& e) = 0;
    /// Tells the endpoint the connection has data it may send now (poll_transmit will ask it).
    virtual void wants_to_send(ConnectionId id) = 0;
    /// Sends a net_crypto packet to the peer with DHT key `dht` through the relays (a linked
    /// route first, else out-of-band); false when no relay took it.
    virtual bool relay_send(const PublicKey& dht, std::span<const std::uint8_t> bytes) = 0;
};

/// Everything a connection may use while handling one input.
struct Services {
    Rng& rng;
    const core::CookieJar& jar;
    const KeyPair& long_term;
    const KeyPair& dht;
    const EndpointConfig& config;
    EndpointStats& stats;
    Outputs& out;
    /// At least one relay is connected: packets of connections that are not directly
    /// connected go through relays (route.hpp).
    bool relays_connected = false;
    /// The endpoint has relays (connected or not): connections report RouteChanged.
    bool relays_added = false;
    /// Storage for received lossy messages, shared by every connection's queue.
    LossyPool* lossy_pool = nullptr;

    void drop(DropReason r) const { ++stats.dropped[static_cast<std::size_t>(r)]; }
};

}  // namespace netcrypto::core
