#include "cli/node.hpp"

#include <cerrno>
#include <sys/select.h>
#include <unistd.h>

#include <fmt/core.h>

#include <netcrypto/tox_id.hpp>

namespace netcrypto::cli {

namespace {

/// Writes everything to a descriptor (blocking); false on error (e.g. a closed pipe).
bool write_all(int fd, std::span<const std::uint8_t> data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // stdout is non-blocking (shared file description): wait until it drains.
            fd_set set;
            FD_ZERO(&set);
            FD_SET(fd, &set);
            ::select(fd + 1, nullptr, &set, nullptr, nullptr);
            continue;
        }
        if (n <= 0) return false;
        data = data.subspan(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

void StdoutSink::write(std::span<const std::uint8_t> data) {
    if (ok_ && !write_all(STDOUT_FILENO, data)) ok_ = false;
}

void StdoutSink::write(std::string_view text) {
    write(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                        text.size()));
}

namespace {

/// The --relay options, each checked; one relay key given twice is refused.
Outcome<std::vector<RelaySpec>> parse_relays(const std::vector<std::string>& texts) {
    std::vector<RelaySpec> relays;
    relays.reserve(texts.size());
    for (const auto& text : texts) {
        auto spec = parse_relay(text);
        if (!spec) return tl::unexpected(spec.error());
        // Two connections with our one key to one relay would evict each other for ever.
        for (const auto& earlier : relays) {
            if (earlier.key == spec->key) {
                return fail(fmt::format("--relay {}: the same relay key as --relay {}", spec->label,
                                        earlier.label));
            }
        }
        relays.push_back(std::move(*spec));
    }
    return relays;
}

/// Adds the relays to the loop and shares them with friends (SHARE_RELAYS, up to 3 connected
/// ones): a c-toxcore peer stores them and comes back through one after a disconnection (spec
/// tcp_relay.md §7.7).
Outcome<void> start_relays(Node& node, const std::vector<RelaySpec>& relays) {
    std::vector<friends::SharedRelay> shared;
    shared.reserve(relays.size());
    for (const auto& spec : relays) {
        auto id = node.loop.add_relay(*node.endpoint, spec.address, spec.key);
        if (!id) return fail(fmt::format("--relay {}: {}", spec.label, id.error()));
        node.relay_labels[*id] = spec.label;
        shared.push_back({spec.address, spec.key});
    }
    node.friends->set_shared_relays(runtime::monotonic_now(), std::move(shared));
    return {};
}

}  // namespace

void Node::adopt_shared_relay(const friends::SharedRelay& r) {
    if (relay_labels.size() >= kMaxRelays || r.address.port == 0) return;
    for (const auto& [id, label] : relay_labels) {
        auto info = endpoint->relay_info(id);
        if (info && info->relay_key == r.key) return;  // known already
    }
    auto id = loop.add_relay(*endpoint, r.address, r.key);
    if (!id) return;
    relay_labels[*id] = r.address.to_string();
    reporter.note("relay_shared",
                  fmt::format("a friend shared relay {} (added)", r.address.to_string()));
}

Outcome<std::unique_ptr<Node>> make_node(const PeerOptions& o, EndpointConfig cfg,
                                         friends::FriendCallbacks callbacks) {
    auto node = std::make_unique<Node>(o.json);
    auto secret = load_secret_key(o.key_file);
    if (!secret) return tl::unexpected(secret.error());
    KeyPair dht = KeyPair::generate(node->rng);
    if (!o.dht_key_file.empty()) {
        auto dht_secret = load_secret_key(o.dht_key_file);
        if (!dht_secret) return tl::unexpected(dht_secret.error());
        dht = KeyPair::from_secret(*dht_secret);
    }
    auto relays = parse_relays(o.relays);
    if (!relays) return tl::unexpected(relays.error());
    if (o.no_udp && relays->empty()) {
        return fail("--no-udp needs at least one --relay HOST:PORT:KEY (nothing else to use)");
    }
    auto bind = o.no_udp ? Outcome<Address>(Address{}) : parse_address(o.bind, "--bind");
    if (!bind) return tl::unexpected(bind.error());
    node->endpoint =
        std::make_unique<Endpoint>(KeyPair::from_secret(*secret), std::move(dht), node->rng,
                                   runtime::monotonic_now(), std::move(cfg));
    // Relays a friend shares (SHARE_RELAYS) are added to ours, so its next session can come
    // through them (the endpoint routes every connection over every relay), up to kMaxRelays.
    Node* self = node.get();
    callbacks.on_relays_shared = [self, user = std::move(callbacks.on_relays_shared)](
                                     ConnectionId id, const std::vector<friends::SharedRelay>& rs) {
        for (const auto& r : rs) self->adopt_shared_relay(r);
        if (user) user(id, rs);
    };
    node->friends = std::make_unique<friends::FriendLayer>(*node->endpoint, std::move(callbacks));
    if (!node->friends->set_self(runtime::monotonic_now(), o.name, o.status_message)) {
        return fail(fmt::format("--name is at most {} bytes and --status-message at most {}",
                                friends::kMaxNameLength, friends::kMaxStatusMessageLength));
    }
    Node* raw = node.get();
    runtime::BindOptions bo;
    bo.drop_probability = o.loss_percent / 100.0;
    bo.no_udp = o.no_udp;
    auto local = node->loop.attach(
        *node->endpoint, *bind,
        [raw](const Event& e) {
            const auto* s = e.get_if<StatusChanged>();
            if (s != nullptr && raw->show_status) raw->reporter.status(*s);
            if (const auto* r = e.get_if<RelayStatusChanged>(); r != nullptr && raw->show_status) {
                raw->reporter.relay(*r, raw->relay_label(r->relay));
            }
            if (const auto* r = e.get_if<RouteChanged>(); r != nullptr && raw->show_status) {
                raw->reporter.route(*r, raw->relay_label(r->relay));
            }
            // The friend layer first: on Established it sends ONLINE (and our name), which a
            // Tox peer needs before any message or stream packet the session then sends.
            raw->friends->on_event(runtime::monotonic_now(), e);
            if (raw->on_event) raw->on_event(e);
        },
        bo);
    if (!local) return fail(local.error());
    if (!o.no_udp) node->local = *local;
    if (auto started = start_relays(*node, *relays); !started) {
        return tl::unexpected(started.error());
    }
    auto sig = node->loop.handle_signals([raw](int) {
        const Instant now = runtime::monotonic_now();
        for (auto id : raw->endpoint->connections()) (void)raw->endpoint->close(now, id);
    });
    if (!sig) return fail(sig.error());
    if (o.json || o.plain_ready) {
        node->reporter.ready(
            node->endpoint->public_key(),
            ToxId::for_key(node->endpoint->public_key(), derive_nospam(*secret)).to_string(),
            node->endpoint->dht_public_key(), node->local);
    }
    return node;
}

}  // namespace netcrypto::cli
