// keygen, id and listen (connect and chat: connect.cpp; listen --exec: listen_exec.cpp).
#include "cli/commands.hpp"

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>
#include <netcrypto/tox_id.hpp>

#include "cli/listen_exec.hpp"
#include "cli/node.hpp"

namespace netcrypto::cli {

namespace {

/// One `listen` run. It answers every incoming request itself: peers outside --allow are
/// rejected; a peer arriving while we are busy is refused with a "refused" event (once per peer
/// while busy; its handshake goes unanswered, so its `connect` times out). Busy means: without
/// --exec, one connection is being served (its stream goes to stdout, its messages are events);
/// with --exec, max_peers connections have a child (listen_exec.hpp). With --once the run ends
/// with the first connection.
class ListenSession {
  public:
    enum class Phase {
        kListening,  ///< serving connections
        kFinished,   ///< --once: the connection ended (OFFLINE received or closed)
    };

    ListenSession(const ListenOptions& o, std::vector<PublicKey> allow)
        : o_(o), allow_(std::move(allow)) {}
    ListenSession(const ListenSession&) = delete;
    ListenSession& operator=(const ListenSession&) = delete;

    Outcome<void> run(EndpointConfig cfg);

  private:
    friends::FriendCallbacks callbacks();
    void on_event(const Event& e);
    void on_request(const IncomingRequest& in);
    [[nodiscard]] bool busy() const;
    void refuse_busy(const PublicKey& peer);
    void on_connection_end(ConnectionId id);

    const ListenOptions& o_;
    const std::vector<PublicKey> allow_;
    Phase phase_ = Phase::kListening;
    StdoutSink out_;
    std::unique_ptr<Node> node_;
    std::unique_ptr<ExecServer> exec_;
    std::optional<ConnectionId> serving_;  ///< without --exec: the one connection served
    std::set<std::string> refused_;        ///< peers reported as refused while busy
};

Outcome<void> ListenSession::run(EndpointConfig cfg) {
    auto node = make_node(o_, std::move(cfg), callbacks());
    if (!node) return tl::unexpected(node.error());
    node_ = std::move(*node);
    if (!o_.exec.empty()) exec_ = std::make_unique<ExecServer>(*node_, o_);
    node_->on_event = [this](const Event& e) { on_event(e); };
    while (phase_ == Phase::kListening && !node_->loop.stopped() && out_.ok()) {
        node_->step(exec_ ? std::chrono::milliseconds{100} : std::chrono::seconds{1});
        if (exec_) {
            exec_->tick(runtime::monotonic_now());
            if (o_.once && exec_->finished() > 0) phase_ = Phase::kFinished;
            if (!exec_->full()) refused_.clear();
        }
    }
    const Instant now = runtime::monotonic_now();
    for (auto id : node_->endpoint->connections()) (void)node_->endpoint->close(now, id);
    node_->loop.flush();
    if (exec_) exec_->shutdown();
    if (!out_.ok()) return fail("cannot write to stdout (closed pipe?)");
    return {};
}

friends::FriendCallbacks ListenSession::callbacks() {
    friends::FriendCallbacks cb;
    cb.on_stream = [this](ConnectionId id, std::span<const std::uint8_t> bytes) {
        if (exec_) {
            exec_->on_stream(id, bytes);
        } else if (serving_ == id) {
            out_.write(bytes);
        }
    };
    cb.on_message = [this](ConnectionId id, bool action, std::string_view text) {
        if (exec_) {
            exec_->on_message(id, text);
        } else {
            node_->reporter.note(action ? "action" : "message", text);
        }
    };
    // A Tox client's name and status message (ours are empty: not reported).
    cb.on_info = [this](ConnectionId, std::string_view what, std::string_view value) {
        if (!value.empty()) node_->reporter.note(what, value);
    };
    // OFFLINE comes after all of the peer's data (lossless, in order) and, unlike its KILL,
    // is retransmitted: with --once it ends the run even when the KILL is lost.
    cb.on_presence = [this](ConnectionId id, bool online) {
        if (online) return;
        if (exec_) {
            exec_->on_peer_offline(id);
        } else if (o_.once) {
            phase_ = Phase::kFinished;
        }
    };
    return cb;
}

void ListenSession::on_event(const Event& e) {
    if (const auto* in = e.get_if<IncomingRequest>()) {
        on_request(*in);
        return;
    }
    if (exec_) {
        exec_->on_event(e);
        return;
    }
    const auto* s = e.get_if<StatusChanged>();
    if (s == nullptr) return;
    if (s->to == Status::kEstablished && serving_ != s->connection) {
        // A connection that took over another one (the peer restarted with a new DHT key).
        if (!serving_) {
            serving_ = s->connection;
        } else {
            refuse_busy(s->peer_key);
            (void)node_->endpoint->close(runtime::monotonic_now(), s->connection);
        }
    }
    if (s->to == Status::kClosed) on_connection_end(s->connection);
}

void ListenSession::on_request(const IncomingRequest& in) {
    if (!allow_.empty() && std::find(allow_.begin(), allow_.end(), in.peer_key) == allow_.end()) {
        (void)node_->endpoint->reject(in.request);
        node_->reporter.note("rejected", in.peer_key.to_hex());
        return;
    }
    if (busy()) {
        (void)node_->endpoint->reject(in.request);
        refuse_busy(in.peer_key);
        return;
    }
    auto id = node_->endpoint->accept(runtime::monotonic_now(), in.request);
    if (!id) return;  // expired meanwhile, or a connection to that peer exists
    if (exec_) {
        exec_->reserve(*id);
    } else {
        serving_ = *id;
    }
}

bool ListenSession::busy() const { return exec_ ? exec_->full() : serving_.has_value(); }

void ListenSession::refuse_busy(const PublicKey& peer) {
    const std::string hex = peer.to_hex();
    if (!refused_.insert(hex).second) return;  // its handshake resends: reported once
    report_event(node_->reporter, {{"event", "refused"}, {"peer", hex}, {"reason", "busy"}},
                 fmt::format("refused: peer {} (busy: {})", hex,
                             exec_ ? "--max-peers connections served" : "serving another peer"));
}

void ListenSession::on_connection_end(ConnectionId id) {
    if (serving_ != id) return;
    serving_.reset();
    refused_.clear();
    if (o_.once) phase_ = Phase::kFinished;
}

}  // namespace

namespace {

/// Prints a key's public key and Tox ID (its nospam derived from the secret, so it is stable),
/// and the DHT public key of a DHT key file when given.
void print_identity(const KeyPair& kp, const std::optional<PublicKey>& dht, bool json) {
    const std::string tox_id =
        ToxId::for_key(kp.public_key, derive_nospam(kp.secret_key)).to_string();
    if (json) {
        nlohmann::json j{{"public_key", kp.public_key.to_hex()}, {"tox_id", tox_id}};
        if (dht) j["dht_public_key"] = dht->to_hex();
        std::cout << j.dump() << std::endl;
        return;
    }
    std::cout << "public key: " << kp.public_key.to_hex() << "\n"
              << "Tox ID:     " << tox_id << "   (paste this into a Tox client's \"add friend\")"
              << std::endl;
    if (dht) std::cout << "DHT key:    " << dht->to_hex() << "   (for --peer-dht)" << std::endl;
}

}  // namespace

Outcome<void> run_keygen(const std::string& out, bool json) {
    SodiumRng rng;
    const KeyPair kp = KeyPair::generate(rng);
    if (auto r = write_secret_key(out, kp.secret_key); !r) return r;
    print_identity(kp, std::nullopt, json);
    return {};
}

Outcome<void> run_id(const std::string& key_file, const std::string& dht_key_file, bool json) {
    auto secret = load_secret_key(key_file);
    if (!secret) return tl::unexpected(secret.error());
    std::optional<PublicKey> dht;
    if (!dht_key_file.empty()) {
        auto dht_secret = load_secret_key(dht_key_file);
        if (!dht_secret) return tl::unexpected(dht_secret.error());
        dht = KeyPair::from_secret(*dht_secret).public_key;
    }
    print_identity(KeyPair::from_secret(*secret), dht, json);
    return {};
}

Outcome<void> run_listen(const ListenOptions& o) {
    EndpointConfig cfg;
    for (const auto& hex : o.allow) {
        auto pk = parse_peer_key(hex, "--allow");
        if (!pk) return tl::unexpected(pk.error());
        cfg.allowlist.push_back(*pk);
    }
    // Every request surfaces (no accept_all, no endpoint allowlist): the session decides.
    std::vector<PublicKey> allow = std::move(cfg.allowlist);
    cfg.allowlist.clear();
    cfg.accept_all = false;
    if (!o.exec.empty() && o.max_peers == 0) return fail("--max-peers must be at least 1");
    ListenSession session(o, std::move(allow));
    return session.run(std::move(cfg));
}

}  // namespace netcrypto::cli
