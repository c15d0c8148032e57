// A hand-driven net_crypto peer for tests: it builds packets with the core's own handshake
// functions and its own keys, so a test can send an endpoint exactly the (valid, subtly invalid
// or hostile) bytes it wants, and read the endpoint's answers. No status machine, no timers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/cookie.hpp"
#include "core/crypto/crypto.hpp"
#include "core/handshake.hpp"
#include "sim/simulator.hpp"

namespace netcrypto::sim {

using Bytes = std::vector<std::uint8_t>;

class FakePeer {
  public:
    /// Keys, cookie key, echo id, session key pair and base nonce all come from `seed`.
    FakePeer(std::uint64_t seed, Duration cookie_validity = std::chrono::seconds{8});

    [[nodiscard]] const PublicKey& key() const { return long_term_.public_key; }
    [[nodiscard]] const PublicKey& dht_key() const { return dht_.public_key; }
    [[nodiscard]] const KeyPair& long_term() const { return long_term_; }
    [[nodiscard]] const PublicKey& session_key() const { return session_.public_key; }

    /// A cookie request to the endpoint whose DHT key is `peer_dht` (0x18, 145 bytes).
    Bytes cookie_request(const PublicKey& peer_dht);
    /// The cookie of a response to our last request to `peer_dht`, if valid.
    std::optional<wire::Cookie> take_cookie(const PublicKey& peer_dht,
                                            std::span<const std::uint8_t> response);
    /// Asks `server` for a cookie from `from` at `now`: the cookie of its answer (the first
    /// datagram it queues, which must go back to `from`), or nullopt if none came.
    std::optional<wire::Cookie> fetch_cookie(Endpoint& server, Instant now, const Address& from);
    /// A handshake to `server` carrying a cookie just fetched from `from` (fetch_cookie); empty
    /// if no cookie came.
    Bytes handshake_to(Endpoint& server, Instant now, const Address& from);
    /// Answers an endpoint's cookie request (addressed to our DHT key) with a cookie response;
    /// `wrong_echo` flips a bit of the echoed id. Empty when the request does not open.
    Bytes cookie_response(Instant now, std::span<const std::uint8_t> request,
                          bool wrong_echo = false);
    /// A handshake to the endpoint with long-term key `peer_key` (DHT key `peer_dht`) carrying
    /// `cookie` at offset 1. `hashed` is the cookie whose SHA-512 goes inside (default: the
    /// same cookie; another one makes the inner hash mismatch).
    Bytes handshake(Instant now, const PublicKey& peer_key, const PublicKey& peer_dht,
                    const wire::Cookie& cookie, const wire::Cookie* hashed = nullptr);
    /// Accepts the endpoint's handshake (our cookie inside, sealed by `peer_key`): learns its
    /// session key and base nonce. False (and nothing learnt) when it does not validate.
    bool take_handshake(Instant now, const PublicKey& peer_key,
                        std::span<const std::uint8_t> bytes);
    /// A data packet (0x1b) of the session learnt by take_handshake: `message` (id first) with
    /// the given ack (buffer start) and packet number. Consumes one nonce.
    Bytes data(std::span<const std::uint8_t> message, std::uint32_t ack = 0,
               std::uint32_t number = 0);
    /// Skips `n` nonces: the next data() uses a nonce `n` further on (nonce-window tests).
    void skip_nonces(std::uint32_t n) { send_nonce_.add(n); }
    /// A data packet from the endpoint of the session learnt by take_handshake, opened with the
    /// receive-window rule of wire.md §5; nullopt when it does not authenticate.
    struct OpenedData {
        std::uint32_t ack = 0;     ///< buffer_start field
        std::uint32_t number = 0;  ///< packet number (lossless) or the sender's send end
        Bytes message;             ///< data id first
    };
    std::optional<OpenedData> open_data(std::span<const std::uint8_t> packet);
    /// Starts a new session (fresh session key pair and base nonce), as a restarted peer would.
    void new_session();
    /// Announces `pk` as our session key in later handshakes (e.g. a small-order point).
    void announce_session_key(const PublicKey& pk) { session_.public_key = pk; }

  private:
    /// DH(their, ours), computed once per peer key (the last one is cached).
    const crypto::SharedKey* shared(const PublicKey& their, const SecretKey& ours,
                                    std::optional<std::pair<PublicKey, crypto::SharedKey>>& cache);

    SeededRng rng_;
    KeyPair long_term_;
    KeyPair dht_;
    KeyPair session_;
    crypto::Nonce base_nonce_;
    crypto::Nonce send_nonce_;
    crypto::Nonce recv_nonce_;  ///< the endpoint's nonce window base (from its handshake)
    wire::EchoId echo_id_{};
    core::CookieJar jar_;
    std::optional<crypto::SharedKey> session_shared_;
    std::optional<std::pair<PublicKey, crypto::SharedKey>> dht_cache_;
    std::optional<std::pair<PublicKey, crypto::SharedKey>> long_term_cache_;
};

/// A simulator node owning some addresses that records what it receives and sends what the
/// test queues (from any address it owns): the network side of a FakePeer.
class FakeNode final : public Node {
  public:
    struct Received {
        Instant at;
        Address from;
        Bytes bytes;
    };

    void handle_datagram(Instant now, const Address& from,
                         std::span<const std::uint8_t> bytes) override;
    std::optional<Outgoing> poll_transmit(Instant now) override;
    [[nodiscard]] std::optional<Instant> next_timeout() const override { return std::nullopt; }
    void handle_timeout(Instant /*now*/) override {}

    /// Queues `bytes` from `from` to `to`; call Simulator::wake on this node afterwards.
    void send(const Address& from, const Address& to, Bytes bytes);
    /// Received datagrams whose first byte is `type`.
    [[nodiscard]] std::vector<Received> of_type(std::uint8_t type) const;

    std::vector<Received> inbox;

  private:
    std::vector<Outgoing> outbox_;
};

}  // namespace netcrypto::sim
