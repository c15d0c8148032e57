#include "core/incoming.hpp"

#include <algorithm>

namespace netcrypto::core {

tl::expected<std::uint64_t, DropReason> IncomingRequests::add(
    Instant now, const handshake::HandshakeInfo& hs, const Address& from,
    const crypto::SharedKey& long_term_shared) {
    for (const Request& p : pending_) {
        if (p.hs.peer_long_term_pk == hs.peer_long_term_pk)
            return tl::unexpected(DropReason::kDuplicateIncoming);
    }
    while (pending_.size() >= cfg_.max_pending_incoming && !pending_.empty()) drop_oldest();
    if (cfg_.max_pending_incoming == 0) return tl::unexpected(DropReason::kNotAccepted);
    Request& p = pending_.emplace_back();
    p.id = next_id_++;
    p.hs = hs;
    p.from = from;
    p.expires = now + cfg_.cookie_validity;
    p.long_term_shared = long_term_shared;
    return p.id;
}

std::optional<IncomingRequests::Request> IncomingRequests::take(Instant now, std::uint64_t id) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [id](const Request& p) { return p.id == id; });
    if (it == pending_.end() || it->expires <= now) return std::nullopt;
    Request p = std::move(*it);
    pending_.erase(it);
    return p;
}

bool IncomingRequests::remove(std::uint64_t id) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [id](const Request& p) { return p.id == id; });
    if (it == pending_.end()) return false;
    pending_.erase(it);
    return true;
}

void IncomingRequests::expire(Instant now) {
    while (!pending_.empty() && pending_.front().expires <= now) drop_oldest();
}

void IncomingRequests::drop_oldest() {
    const std::uint64_t id = pending_.front().id;
    pending_.pop_front();
    forget_(id);
}

}  // namespace netcrypto::core
