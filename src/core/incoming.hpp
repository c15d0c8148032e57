// Incoming requests: handshakes from peers with no connection, kept (bounded, for one cookie
// lifetime) until the application accepts or rejects them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

#include <netcrypto/endpoint.hpp>

#include "core/crypto/crypto.hpp"
#include "core/handshake.hpp"

namespace netcrypto::core {

class IncomingRequests {
  public:
    struct Request {
        std::uint64_t id = 0;
        handshake::HandshakeInfo hs;
        Address from;
        Instant expires;
        crypto::SharedKey long_term_shared;
    };

    /// `forget` is told the id of every request dropped unanswered (evicted or expired), so
    /// the endpoint can withdraw its unpolled event.
    IncomingRequests(const EndpointConfig& cfg, std::function<void(std::uint64_t)> forget)
        : cfg_(cfg), forget_(std::move(forget)) {}

    /// Queues a request (evicting the oldest when full) and returns its id; kDuplicateIncoming
    /// when the peer already has one, kNotAccepted when none may be kept.
    tl::expected<std::uint64_t, DropReason> add(Instant now, const handshake::HandshakeInfo& hs,
                                                const Address& from,
                                                const crypto::SharedKey& long_term_shared);
    /// Removes and returns a live request (for accept).
    std::optional<Request> take(Instant now, std::uint64_t id);
    /// Removes a request (for reject); false when unknown.
    bool remove(std::uint64_t id);
    /// Forgets the requests that expired by `now`.
    void expire(Instant now);

  private:
    void drop_oldest();

    const EndpointConfig& cfg_;
    std::function<void(std::uint64_t)> forget_;
    std::deque<Request> pending_;
    std::uint64_t next_id_ = 1;
};

}  // namespace netcrypto::core
