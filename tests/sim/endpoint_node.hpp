// Adapts a netcrypto::Endpoint to the simulator's Node interface and records what the
// application would see: every event, and the lossless/lossy messages it reads.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <netcrypto/endpoint.hpp>

#include "sim/simulator.hpp"

namespace netcrypto::sim {

/// A simulated host running one endpoint with a scripted application on top.
class EndpointNode final : public Node {
  public:
    /// Keys come from a SeededRng so a run replays exactly from its seed; `long_term` replaces
    /// the seeded long-term key pair (two nodes can then be "the same peer").
    EndpointNode(std::uint64_t seed, Address address, Instant now, EndpointConfig config = {},
                 std::optional<KeyPair> long_term = std::nullopt);

    void handle_datagram(Instant now, const Address& from,
                         std::span<const std::uint8_t> bytes) override;
    std::optional<Outgoing> poll_transmit(Instant now) override;
    [[nodiscard]] std::optional<Instant> next_timeout() const override;
    void handle_timeout(Instant now) override;

    /// Simulates a restart of the host: a fresh endpoint (no connections, new DHT key pair and
    /// cookie key, same long-term key and config) sending from `address` (one of the node's
    /// simulator addresses). Recorded events and transitions are kept.
    void restart(Instant now, Address address);

    Endpoint& endpoint() { return endpoint_; }
    [[nodiscard]] const Address& address() const { return address_; }
    [[nodiscard]] const PublicKey& key() const { return endpoint_.public_key(); }
    [[nodiscard]] const PublicKey& dht_key() const { return endpoint_.dht_public_key(); }

    /// Every event polled so far, in order, and the virtual time each was polled at.
    std::vector<Event> events;
    std::vector<Instant> event_times;
    /// Status transitions seen, as "From->To" strings (e.g. "CookieRequesting->HandshakeSending").
    std::vector<std::string> transitions;
    /// Lossless messages read, concatenated per connection is left to the test via this hook.
    std::function<void(Instant, const Event&)> on_event;
    /// Called with every lossless message read (after kReadable); default: append to `received`.
    std::function<void(ConnectionId, std::span<const std::uint8_t>)> on_lossless;
    std::vector<std::vector<std::uint8_t>> received;
    std::vector<std::vector<std::uint8_t>> received_lossy;
    /// Incoming requests are accepted automatically when true; otherwise they are rejected
    /// (Endpoint::reject) when `reject_incoming` is set, or just recorded (left pending).
    bool accept_incoming = true;
    bool reject_incoming = false;
    /// Read data when readable (false simulates an application that stopped reading).
    bool read_enabled = true;
    /// Append polled events to `events` / `event_times` (off for long transfers whose heap
    /// is measured: kAcked events would pile up).
    bool record_events = true;

    /// Net heap bytes allocated inside this node's calls into its endpoint (inputs, polls,
    /// reads, accept/reject) since construction, and the highest value reached: the
    /// endpoint's memory, without the simulator's or the application's.
    std::int64_t endpoint_heap = 0;
    std::int64_t endpoint_heap_peak = 0;

    /// The current status of the connection to `peer`, or kClosed if none.
    [[nodiscard]] Status status_of(const PublicKey& peer) const;
    /// Reads every waiting message of `id` now.
    void drain(Instant now, ConnectionId id);

  private:
    void pump_events(Instant now);
    template <class F>
    decltype(auto) metered(F&& f);

    SeededRng rng_;
    Address address_;
    EndpointConfig config_;
    KeyPair long_term_;
    Endpoint endpoint_;
    std::array<std::uint8_t, kMaxDatagramSize> buffer_{};
};

/// "From->To" for a status event.
std::string transition_name(const StatusChanged& e);

}  // namespace netcrypto::sim
