// The endpoint's data and query facade: looks the connection up, lends it the services and
// re-arms its timer afterwards.
#include "core/endpoint_impl.hpp"

namespace netcrypto {

Result<std::uint32_t> Endpoint::send_lossless(Instant now, ConnectionId id,
                                              std::span<const std::uint8_t> message) {
    core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    auto s = impl_->services();
    auto r = conn->send_lossless(s, now, message);
    impl_->after(Impl::index_of(id));
    return r;
}

Result<void> Endpoint::send_lossy(Instant now, ConnectionId id,
                                  std::span<const std::uint8_t> message) {
    core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    auto s = impl_->services();
    auto r = conn->send_lossy(s, now, message);
    impl_->after(Impl::index_of(id));
    return r;
}

Result<std::size_t> Endpoint::read_lossless(Instant now, ConnectionId id,
                                            std::span<std::uint8_t> out) {
    core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    if (out.size() < kMaxMessageSize) return tl::unexpected(Error::kInvalidMessage);
    auto s = impl_->services();
    const std::size_t n = conn->read_lossless(s, now, out);
    impl_->after(Impl::index_of(id));
    return n;
}

Result<std::size_t> Endpoint::read_lossy(ConnectionId id, std::span<std::uint8_t> out) {
    core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    if (out.size() < kMaxMessageSize) return tl::unexpected(Error::kInvalidMessage);
    auto s = impl_->services();
    return conn->read_lossy(s, out);
}

Result<std::size_t> Endpoint::send_capacity(ConnectionId id) const {
    const core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    return conn->send_capacity();
}

Result<void> Endpoint::set_user_tag(ConnectionId id, std::uint64_t tag) {
    core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    conn->set_user_tag(tag);
    return {};
}

Result<std::uint64_t> Endpoint::user_tag(ConnectionId id) const {
    const core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    return conn->user_tag();
}

Result<ConnectionInfo> Endpoint::info(ConnectionId id) const {
    const core::Connection* conn = impl_->get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    return conn->info();
}

std::optional<ConnectionId> Endpoint::find(const PublicKey& peer_key) const {
    return impl_->find(peer_key);
}

std::vector<ConnectionId> Endpoint::connections() const { return impl_->connections(); }

const EndpointStats& Endpoint::stats() const { return impl_->stats_; }
bool Endpoint::under_load() const { return impl_->under_load(); }

}  // namespace netcrypto
