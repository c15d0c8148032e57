// The running endpoint shared by listen, connect and chat (event loop, friend layer, reporter,
// signal handling), and stdout for the data a peer sends.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "cli/commands.hpp"

namespace netcrypto::cli {

/// stdout for received data (blocking writes). After the first failed write (e.g. a closed
/// pipe) it drops everything and ok() stays false.
class StdoutSink {
  public:
    void write(std::span<const std::uint8_t> data);
    void write(std::string_view text);
    [[nodiscard]] bool ok() const { return ok_; }

  private:
    bool ok_ = true;
};

/// One running endpoint with its loop, friend layer and reporter.
struct Node {
    explicit Node(bool json) : reporter(json) {}
    Reporter reporter;
    SodiumRng rng;
    std::unique_ptr<Endpoint> endpoint;
    runtime::Loop loop;
    std::unique_ptr<friends::FriendLayer> friends;
    std::optional<Address> local;  ///< the bound UDP address (nullopt with --no-udp)
    /// "HOST:PORT" of each relay, as given with --relay.
    std::map<RelayId, std::string> relay_labels;
    /// Relays a friend shared are added up to this many relays in all.
    static constexpr std::size_t kMaxRelays = 8;
    /// Adds a relay a friend shared unless its key is known or kMaxRelays are in use.
    void adopt_shared_relay(const friends::SharedRelay& r);
    std::function<void(const Event&)> on_event;  ///< command-specific handling
    /// Print every status change, relay and route event (chat in plain mode shows its own
    /// online/offline/route lines).
    bool show_status = true;

    /// The --relay label of a relay ("?" if unknown).
    [[nodiscard]] std::string relay_label(RelayId id) const {
        auto it = relay_labels.find(id);
        return it == relay_labels.end() ? std::string("?") : it->second;
    }

    /// Runs the loop once, including the friend layer's timers.
    void step(Duration max_wait) {
        const Instant now = runtime::monotonic_now();
        if (auto t = friends->next_timeout()) {
            if (*t <= now) friends->on_timeout(now);
            if (auto t2 = friends->next_timeout()) max_wait = std::min(max_wait, *t2 - now);
        }
        loop.run_once(std::max(max_wait, Duration::zero()));
    }
};

/// Loads the keys, binds the socket, closes every connection on SIGINT/SIGTERM and reports
/// "ready". Status events are reported; each event then goes to Node::on_event and to the
/// friend layer.
Outcome<std::unique_ptr<Node>> make_node(const PeerOptions& o, EndpointConfig cfg,
                                         friends::FriendCallbacks callbacks);

}  // namespace netcrypto::cli
