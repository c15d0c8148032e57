#include "sim/fake_peer.hpp"

#include <algorithm>
#include <array>

namespace netcrypto::sim {

FakePeer::FakePeer(std::uint64_t seed, Duration cookie_validity)
    : rng_(seed ^ 0xFA4EFA4EFA4EULL),
      long_term_(KeyPair::generate(rng_)),
      dht_(KeyPair::generate(rng_)),
      session_(KeyPair::generate(rng_)),
      base_nonce_(crypto::Nonce::random(rng_)),
      send_nonce_(base_nonce_),
      jar_(rng_, cookie_validity) {
    rng_.fill(echo_id_);
}

void FakePeer::new_session() {
    session_ = KeyPair::generate(rng_);
    base_nonce_ = crypto::Nonce::random(rng_);
    send_nonce_ = base_nonce_;
    session_shared_.reset();
}

const crypto::SharedKey* FakePeer::shared(
    const PublicKey& their, const SecretKey& ours,
    std::optional<std::pair<PublicKey, crypto::SharedKey>>& cache) {
    if (!cache || cache->first != their) {
        crypto::SharedKey k;
        if (!k.precompute(their, ours)) return nullptr;
        cache.emplace(their, k);
    }
    return &cache->second;
}

std::optional<wire::Cookie> FakePeer::fetch_cookie(Endpoint& server, Instant now,
                                                   const Address& from) {
    server.handle_datagram(now, from, cookie_request(server.dht_public_key()));
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    auto t = server.poll_transmit(now, buf);
    if (!t || t->destination != from) return std::nullopt;
    return take_cookie(server.dht_public_key(), std::span(buf).first(t->size));
}

Bytes FakePeer::handshake_to(Endpoint& server, Instant now, const Address& from) {
    const auto cookie = fetch_cookie(server, now, from);
    if (!cookie) return {};
    return handshake(now, server.public_key(), server.dht_public_key(), *cookie);
}

Bytes FakePeer::cookie_request(const PublicKey& peer_dht) {
    const crypto::SharedKey* k = shared(peer_dht, dht_.secret_key, dht_cache_);
    if (k == nullptr) return {};
    const auto bytes = handshake::create_cookie_request(long_term_.public_key, dht_.public_key, *k,
                                                        echo_id_, rng_);
    return {bytes.begin(), bytes.end()};
}

std::optional<wire::Cookie> FakePeer::take_cookie(const PublicKey& peer_dht,
                                                  std::span<const std::uint8_t> response) {
    const crypto::SharedKey* k = shared(peer_dht, dht_.secret_key, dht_cache_);
    if (k == nullptr) return std::nullopt;
    auto cookie = handshake::consume_cookie_response(response, *k, echo_id_);
    if (!cookie) return std::nullopt;
    return *cookie;
}

Bytes FakePeer::cookie_response(Instant now, std::span<const std::uint8_t> request,
                                bool wrong_echo) {
    auto info = handshake::consume_cookie_request(
        request, [&](const PublicKey& pk) { return shared(pk, dht_.secret_key, dht_cache_); });
    if (!info) return {};
    if (wrong_echo) info->echo_id[0] ^= 0x01U;
    const auto bytes = handshake::create_cookie_response(*info, jar_, now, rng_);
    return {bytes.begin(), bytes.end()};
}

Bytes FakePeer::handshake(Instant now, const PublicKey& peer_key, const PublicKey& peer_dht,
                          const wire::Cookie& cookie, const wire::Cookie* hashed) {
    const crypto::SharedKey* long_term_shared =
        shared(peer_key, long_term_.secret_key, long_term_cache_);
    if (long_term_shared == nullptr) return {};
    handshake::HandshakeParams params;
    params.peer_cookie = hashed != nullptr ? hashed : &cookie;
    params.base_nonce = base_nonce_;
    params.session_pk = session_.public_key;
    params.other_cookie = jar_.issue(now, peer_key, peer_dht, rng_);
    auto bytes = handshake::create_handshake(params, *long_term_shared, rng_);
    // offset 1: the cookie that travels (differs from the hashed one on request)
    std::copy(cookie.begin(), cookie.end(), bytes.begin() + 1);
    return {bytes.begin(), bytes.end()};
}

bool FakePeer::take_handshake(Instant now, const PublicKey& peer_key,
                              std::span<const std::uint8_t> bytes) {
    const crypto::SharedKey* long_term_shared =
        shared(peer_key, long_term_.secret_key, long_term_cache_);
    if (long_term_shared == nullptr) return false;
    auto hs = handshake::consume_handshake(bytes, jar_, now, &peer_key,
                                           [&](const PublicKey&) { return long_term_shared; });
    if (!hs) return false;
    crypto::SharedKey session;
    if (!session.precompute(hs->peer_session_pk, session_.secret_key)) return false;
    session_shared_ = session;
    recv_nonce_ = hs->peer_base_nonce;
    return true;
}

Bytes FakePeer::data(std::span<const std::uint8_t> message, std::uint32_t ack,
                     std::uint32_t number) {
    if (!session_shared_) return {};
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
    const std::size_t n = wire::encode_data_plain(ack, number, message, plain);
    if (n == 0) return {};
    Bytes out(wire::kDataHeaderSize + wire::kMacSize + n);
    wire::encode_data_header(send_nonce_.low16(),
                             std::span<std::uint8_t>(out).first<wire::kDataHeaderSize>());
    if (!crypto::seal(*session_shared_, send_nonce_, std::span<const std::uint8_t>(plain).first(n),
                      std::span<std::uint8_t>(out).subspan(wire::kDataHeaderSize))) {
        return {};
    }
    send_nonce_.increment();
    return out;
}

std::optional<FakePeer::OpenedData> FakePeer::open_data(std::span<const std::uint8_t> packet) {
    if (!session_shared_) return std::nullopt;
    auto view = wire::decode_data_packet(packet);
    if (!view) return std::nullopt;
    const auto diff = static_cast<std::uint16_t>(view->nonce_low - recv_nonce_.low16());
    crypto::Nonce nonce = recv_nonce_;
    nonce.add(diff);
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
    const auto out = std::span<std::uint8_t>(plain).first(view->encrypted.size() - wire::kMacSize);
    if (!crypto::open(*session_shared_, nonce, view->encrypted, out)) return std::nullopt;
    if (diff > 2 * 21845) recv_nonce_.add(21845);
    auto p = wire::decode_data_plain(out);
    if (!p) return std::nullopt;
    return OpenedData{p->buffer_start, p->packet_number,
                      Bytes(p->message.begin(), p->message.end())};
}

// --- FakeNode ----------------------------------------------------------------------------------

void FakeNode::handle_datagram(Instant now, const Address& from,
                               std::span<const std::uint8_t> bytes) {
    inbox.push_back(Received{now, from, Bytes(bytes.begin(), bytes.end())});
}

std::optional<Outgoing> FakeNode::poll_transmit(Instant /*now*/) {
    if (outbox_.empty()) return std::nullopt;
    Outgoing out = std::move(outbox_.front());
    outbox_.erase(outbox_.begin());
    return out;
}

void FakeNode::send(const Address& from, const Address& to, Bytes bytes) {
    outbox_.push_back(Outgoing{from, to, std::move(bytes)});
}

std::vector<FakeNode::Received> FakeNode::of_type(std::uint8_t type) const {
    std::vector<Received> out;
    for (const auto& r : inbox) {
        if (!r.bytes.empty() && r.bytes[0] == type) out.push_back(r);
    }
    return out;
}

}  // namespace netcrypto::sim
