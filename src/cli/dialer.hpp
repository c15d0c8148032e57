// Getting a connection to one peer the way a user names it: a Tox ID (or key) and an address,
// or a key and a DHT key when the peer is reached through TCP relays only (no --to).
// When the peer's DHT key is not known (no --peer-dht), it is learnt first from the address
// (Endpoint::discover), then connect() runs with it. A connection the peer opens to us is
// adopted too (the peer is on the endpoint's allowlist).
#pragma once

#include <optional>
#include <string>

#include <netcrypto/endpoint.hpp>

#include "cli/commands.hpp"
#include "cli/node.hpp"

namespace netcrypto::cli {

/// Where to connect: --to, --peer and --peer-dht, parsed.
struct Target {
    std::optional<Address> address;  ///< nullopt: through the relays only (no --to)
    PublicKey peer;
    std::optional<PublicKey> peer_dht;  ///< nullopt: learn it from the address
    /// The address, or "relays" when there is none (for messages).
    [[nodiscard]] std::string where() const {
        return address ? address->to_string() : std::string("relays");
    }
};

Outcome<Target> parse_target(const ConnectOptions& o);

class Dialer {
  public:
    Dialer(Node& node, const Target& target) : node_(node), target_(target) {}

    /// Starts an attempt: connect() now when the DHT key is known, otherwise discover() first.
    Outcome<void> start(Instant now);
    /// Feed every endpoint event. Returns a one-line failure when nobody answered discovery.
    std::optional<std::string> on_event(Instant now, const Event& e);

    /// The connection to the peer (ours or the one it opened), once there is one.
    [[nodiscard]] std::optional<ConnectionId> connection() const { return id_; }
    [[nodiscard]] const Target& target() const { return target_; }

  private:
    void connect(Instant now);

    Node& node_;
    Target target_;
    std::optional<ConnectionId> id_;
    bool discovering_ = false;
    /// Whether target_.peer_dht came from discovery (then a timeout re-learns it).
    bool learnt_ = false;
};

}  // namespace netcrypto::cli
