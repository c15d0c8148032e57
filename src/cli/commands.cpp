// keygen, id and listen (connect and chat: connect.cpp).
#include "cli/commands.hpp"

#include <iostream>
#include <memory>

#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "cli/node.hpp"

namespace netcrypto::cli {

namespace {

/// One `listen` run: accepts allowed peers (or anyone), writes their stream to stdout and
/// prints their messages as events; with --once the run ends with the first connection.
class ListenSession {
  public:
    enum class Phase {
        kListening,  ///< serving connections
        kFinished,   ///< --once: the connection ended (OFFLINE received or closed)
    };

    explicit ListenSession(const ListenOptions& o) : o_(o) {}
    ListenSession(const ListenSession&) = delete;
    ListenSession& operator=(const ListenSession&) = delete;

    Outcome<void> run(EndpointConfig cfg);

  private:
    friends::FriendCallbacks callbacks();
    void on_event(const Event& e);
    /// Only peers outside the allowlist surface as incoming requests: refuse them.
    void refuse(RequestId request, const PublicKey& peer);
    void on_connection_end();

    const ListenOptions& o_;
    Phase phase_ = Phase::kListening;
    StdoutSink out_;
    std::unique_ptr<Node> node_;
};

Outcome<void> ListenSession::run(EndpointConfig cfg) {
    auto node = make_node(o_, std::move(cfg), callbacks());
    if (!node) return tl::unexpected(node.error());
    node_ = std::move(*node);
    node_->on_event = [this](const Event& e) { on_event(e); };
    while (phase_ == Phase::kListening && !node_->loop.stopped() && out_.ok()) {
        node_->step(std::chrono::seconds{1});
    }
    const Instant now = runtime::monotonic_now();
    for (auto id : node_->endpoint->connections()) (void)node_->endpoint->close(now, id);
    node_->loop.flush();
    if (!out_.ok()) return fail("cannot write to stdout (closed pipe?)");
    return {};
}

friends::FriendCallbacks ListenSession::callbacks() {
    friends::FriendCallbacks cb;
    cb.on_stream = [this](ConnectionId, std::span<const std::uint8_t> bytes) { out_.write(bytes); };
    cb.on_message = [this](ConnectionId, bool action, std::string_view text) {
        node_->reporter.note(action ? "action" : "message", text);
    };
    // OFFLINE comes after all of the peer's data (lossless, in order) and, unlike its KILL,
    // is retransmitted: with --once it ends the run even when the KILL is lost.
    cb.on_presence = [this](ConnectionId, bool online) {
        if (!online) on_connection_end();
    };
    return cb;
}

void ListenSession::on_event(const Event& e) {
    if (const auto* in = e.get_if<IncomingRequest>()) refuse(in->request, in->peer_key);
    const auto* s = e.get_if<StatusChanged>();
    if (s != nullptr && s->to == Status::kClosed) on_connection_end();
}

void ListenSession::refuse(RequestId request, const PublicKey& peer) {
    (void)node_->endpoint->reject(request);
    node_->reporter.note("rejected", peer.to_hex());
}

void ListenSession::on_connection_end() {
    if (o_.once) phase_ = Phase::kFinished;
}

}  // namespace

Outcome<void> run_keygen(const std::string& out) {
    SodiumRng rng;
    const KeyPair kp = KeyPair::generate(rng);
    if (auto r = write_secret_key(out, kp.secret_key); !r) return r;
    std::cout << kp.public_key.to_hex() << std::endl;
    return {};
}

Outcome<void> run_id(const std::string& key_file) {
    auto secret = load_secret_key(key_file);
    if (!secret) return tl::unexpected(secret.error());
    std::cout << KeyPair::from_secret(*secret).public_key.to_hex() << std::endl;
    return {};
}

Outcome<void> run_listen(const ListenOptions& o) {
    EndpointConfig cfg;
    for (const auto& hex : o.allow) {
        auto pk = parse_public_key(hex, "--allow");
        if (!pk) return tl::unexpected(pk.error());
        cfg.allowlist.push_back(*pk);
    }
    cfg.accept_all = cfg.allowlist.empty();
    ListenSession session(o);
    return session.run(std::move(cfg));
}

}  // namespace netcrypto::cli
