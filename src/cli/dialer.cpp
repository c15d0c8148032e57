#include "cli/dialer.hpp"

#include <chrono>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace netcrypto::cli {

Outcome<Target> parse_target(const ConnectOptions& o) {
    Target t;
    if (o.no_udp && o.relays.empty()) {
        return fail("--no-udp needs at least one --relay HOST:PORT:KEY (nothing else to use)");
    }
    // With --no-udp an address would never be used: the peer is reached through the relays.
    if (!o.to.empty() && !o.no_udp) {
        auto to = parse_address_or_host(o.to, "--to", kToxDefaultPort);
        if (!to) return tl::unexpected(to.error());
        t.address = *to;
    } else if (o.relays.empty()) {
        return fail("--to HOST[:PORT] is required (or --relay to reach the peer through relays)");
    }
    auto peer = parse_peer_key(o.peer, "--peer");
    if (!peer) return tl::unexpected(peer.error());
    t.peer = *peer;
    if (!o.peer_dht.empty()) {
        auto peer_dht = parse_public_key(o.peer_dht, "--peer-dht");
        if (!peer_dht) return tl::unexpected(peer_dht.error());
        t.peer_dht = *peer_dht;
    }
    if (!t.address && !t.peer_dht) {
        return fail(
            "--peer-dht is required without a UDP address (--no-udp or no --to): the peer's DHT "
            "key cannot be learnt through a relay");
    }
    return t;
}

Outcome<void> Dialer::start(Instant now) {
    id_.reset();
    // A learnt key is learnt again on every attempt: a Tox peer draws a new DHT key at every
    // start, so after a session ends the old one is most likely stale (the cookie requests
    // would go unanswered for the whole handshake timeout).
    if (learnt_) target_.peer_dht.reset();
    if (target_.peer_dht || !target_.address) {
        connect(now);
        return {};
    }
    if (auto r = node_.endpoint->discover(now, target_.peer, *target_.address); !r) {
        return fail(fmt::format("cannot learn the DHT key at {}: {}", target_.address->to_string(),
                                to_string(r.error())));
    }
    discovering_ = true;
    return {};
}

void Dialer::connect(Instant now) {
    auto id = target_.address
                  ? node_.endpoint->connect(now, target_.peer, *target_.peer_dht, *target_.address)
                  : node_.endpoint->connect(now, target_.peer, *target_.peer_dht);
    if (id) {
        id_ = *id;
    } else if (id.error() == Error::kAlreadyConnected) {
        id_ = node_.endpoint->find(target_.peer);  // the peer connected to us meanwhile
    }
}

std::optional<std::string> Dialer::on_event(Instant now, const Event& e) {
    if (const auto* learnt = e.get_if<DhtKeyLearned>()) {
        if (!discovering_ || learnt->address != target_.address) return std::nullopt;
        discovering_ = false;
        target_.peer_dht = learnt->peer_dht_key;
        learnt_ = true;
        const Reporter& r = node_.reporter;
        if (r.json()) {
            r.line(nlohmann::json{{"event", "discovered"},
                                  {"address", learnt->address.to_string()},
                                  {"dht_public_key", learnt->peer_dht_key.to_hex()}});
        } else {
            r.note("discovered", fmt::format("{} has DHT key {}", learnt->address.to_string(),
                                             learnt->peer_dht_key.to_hex()));
        }
        if (!id_) connect(now);
        return std::nullopt;
    }
    if (const auto* failed = e.get_if<DiscoveryFailed>()) {
        if (!discovering_ || failed->address != target_.address) return std::nullopt;
        discovering_ = false;
        const auto waited =
            std::chrono::duration<double>(EndpointConfig{}.discovery_interval) * failed->sends;
        return fmt::format(
            "no Tox peer answered at {} after {:.0f} s ({} LAN discovery packets; is a Tox client "
            "running there with local discovery on? or give --peer-dht)",
            failed->address.to_string(), waited.count(), failed->sends);
    }
    const auto* s = e.get_if<StatusChanged>();
    if (s == nullptr || s->peer_key != target_.peer) return std::nullopt;
    if (s->from == s->to && s->to != Status::kClosed) {
        id_ = s->connection;  // ours, or one the peer opened (allowlist)
        if (discovering_) {
            discovering_ = false;
            if (target_.address) (void)node_.endpoint->stop_discovery(*target_.address);
        }
    }
    return std::nullopt;
}

}  // namespace netcrypto::cli
