// A minimal Tox TCP relay server for tests and fuzzers, written from the relay spec tables with
// the raw crypto helpers (not with src/core/relay/frame.cpp), so that the client is checked
// against an independent reading of the layouts.
//
// ServerConn is the relay's half of one connection: it reads the 128-byte handshake, answers
// with 96 bytes, then opens the client's frames (checking lengths, tags and nonces) and seals
// frames to the client. MiniRelay links several ServerConns with the routing rules of the spec
// (§5.2, §5.3): lowest free slot, both CONNECTs when both sides asked, data forwarded with the
// partner's id, OOB to any confirmed key, DISCONNECT returns the partner to "requested".
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto::testing {

using ByteVec = std::vector<std::uint8_t>;

class ServerConn {
  public:
    ServerConn(const KeyPair& relay, Rng& rng) : relay_(relay), rng_(rng) {}

    /// Bytes from the client. False once the connection is broken (bad handshake or frame).
    bool receive(std::span<const std::uint8_t> bytes) {
        in_.insert(in_.end(), bytes.begin(), bytes.end());
        if (failed_) return false;
        if (!handshaken_ && !do_handshake()) return !failed_;
        while (in_.size() >= 2) {
            const std::size_t len = (std::size_t{in_[0]} << 8U) | in_[1];
            if (len == 0) {
                in_.erase(in_.begin(), in_.begin() + 2);
                continue;
            }
            if (len > 2048 || len <= 16) return fail();
            if (in_.size() < 2 + len) break;
            ByteVec plain(len - 16);
            if (!crypto::open(key_, recv_nonce_, std::span<const std::uint8_t>(in_).subspan(2, len),
                              plain)) {
                return fail();
            }
            recv_nonce_.increment();
            in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(2 + len));
            received.push_back(std::move(plain));
        }
        return true;
    }

    /// Seals `plain` as the next frame to the client.
    void send(std::span<const std::uint8_t> plain) { append_frame(plain, out); }
    ByteVec frame(std::span<const std::uint8_t> plain) {
        ByteVec f;
        append_frame(plain, f);
        return f;
    }
    /// Raw bytes to the client (for broken frames).
    void send_raw(std::span<const std::uint8_t> bytes) {
        out.insert(out.end(), bytes.begin(), bytes.end());
    }
    ByteVec take_output() { return std::exchange(out, {}); }

    [[nodiscard]] bool handshaken() const { return handshaken_; }
    [[nodiscard]] bool failed() const { return failed_; }
    [[nodiscard]] const PublicKey& client_pk() const { return client_pk_; }
    crypto::Nonce& send_nonce() { return send_nonce_; }

    std::vector<ByteVec> received;  ///< client plaintexts, in order
    ByteVec out;                    ///< bytes to the client

  private:
    bool fail() {
        failed_ = true;
        return false;
    }

    bool do_handshake() {
        if (in_.size() < 128) return false;
        std::copy_n(in_.begin(), 32, client_pk_.bytes.begin());
        crypto::Nonce n1;
        std::copy_n(in_.begin() + 32, 24, n1.bytes.begin());
        crypto::SharedKey k;
        std::array<std::uint8_t, 56> plain{};
        if (!k.precompute(client_pk_, relay_.secret_key) ||
            !crypto::open(k, n1, std::span<const std::uint8_t>(in_).subspan(56, 72), plain)) {
            return fail();
        }
        PublicKey client_temp;
        std::copy_n(plain.begin(), 32, client_temp.bytes.begin());
        std::copy_n(plain.begin() + 32, 24, recv_nonce_.bytes.begin());
        const KeyPair temp = KeyPair::generate(rng_);
        send_nonce_ = crypto::Nonce::random(rng_);
        std::array<std::uint8_t, 56> reply{};
        std::copy(temp.public_key.bytes.begin(), temp.public_key.bytes.end(), reply.begin());
        std::copy(send_nonce_.bytes.begin(), send_nonce_.bytes.end(), reply.begin() + 32);
        const crypto::Nonce n2 = crypto::Nonce::random(rng_);
        ByteVec response(96);
        std::copy(n2.bytes.begin(), n2.bytes.end(), response.begin());
        if (!crypto::seal(k, n2, reply, std::span(response).subspan(24)) ||
            !key_.precompute(client_temp, temp.secret_key)) {
            return fail();
        }
        out.insert(out.end(), response.begin(), response.end());
        in_.erase(in_.begin(), in_.begin() + 128);
        handshaken_ = true;
        return true;
    }

    void append_frame(std::span<const std::uint8_t> plain, ByteVec& to) {
        const std::size_t len = plain.size() + 16;
        to.push_back(static_cast<std::uint8_t>(len >> 8U));
        to.push_back(static_cast<std::uint8_t>(len & 0xFFU));
        const std::size_t at = to.size();
        to.resize(at + len);
        if (!crypto::seal(key_, send_nonce_, plain, std::span(to).subspan(at))) to.resize(at - 2);
        send_nonce_.increment();
    }

    const KeyPair& relay_;
    Rng& rng_;
    ByteVec in_;
    bool handshaken_ = false;
    bool failed_ = false;
    PublicKey client_pk_;
    crypto::SharedKey key_;
    crypto::Nonce recv_nonce_;
    crypto::Nonce send_nonce_;
};

/// Several ServerConns with the relay's routing rules. Connection i is conns[i].
class MiniRelay {
  public:
    MiniRelay(const KeyPair& relay, Rng& rng) : relay_(relay), rng_(rng) {}

    std::size_t add_connection() {
        peers_.push_back(Peer{std::make_unique<ServerConn>(relay_, rng_), false, {}});
        return peers_.size() - 1;
    }
    ServerConn& conn(std::size_t i) { return *peers_[i].conn; }

    /// Client i's bytes; processes every complete packet. False if the relay closed it.
    bool receive(std::size_t i, std::span<const std::uint8_t> bytes) {
        Peer& p = peers_[i];
        if (!p.conn->receive(bytes)) return false;
        auto packets = std::exchange(p.conn->received, {});
        for (const ByteVec& pkt : packets) {
            p.confirmed = true;
            handle(i, pkt);
        }
        return true;
    }

    /// Client i's TCP connection ended: its partners get DISCONNECT, it is forgotten.
    void close(std::size_t i) {
        Peer& p = peers_[i];
        if (!p.confirmed) return;
        for (Slot& s : p.slots) {
            if (s.used && s.online) unlink(i, s.pk);
            s = Slot{};
        }
        p.confirmed = false;
    }

  private:
    struct Slot {
        bool used = false;
        bool online = false;
        PublicKey pk;
    };
    struct Peer {
        std::unique_ptr<ServerConn> conn;
        bool confirmed = false;
        std::array<Slot, 240> slots{};
    };

    std::optional<std::size_t> find_peer(const PublicKey& pk) {
        for (std::size_t i = 0; i < peers_.size(); ++i) {
            if (peers_[i].confirmed && peers_[i].conn->client_pk() == pk) return i;
        }
        return std::nullopt;
    }
    static std::optional<std::size_t> find_slot(const Peer& p, const PublicKey& pk) {
        for (std::size_t s = 0; s < p.slots.size(); ++s) {
            if (p.slots[s].used && p.slots[s].pk == pk) return s;
        }
        return std::nullopt;
    }
    static std::uint8_t id_of(std::size_t slot) { return static_cast<std::uint8_t>(slot + 16); }

    void handle(std::size_t i, const ByteVec& pkt) {
        Peer& p = peers_[i];
        const std::uint8_t id = pkt[0];
        if (id == 0 && pkt.size() == 33) {
            route(i, pkt);
        } else if (id == 3 && pkt.size() == 2 && pkt[1] >= 16) {
            Slot& s = p.slots[pkt[1] - 16U];
            if (s.online) unlink(i, s.pk);
            s = Slot{};
        } else if (id == 4 && pkt.size() == 9) {
            ByteVec pong(pkt);
            pong[0] = 5;
            p.conn->send(pong);
        } else if (id == 6 && pkt.size() > 33) {
            PublicKey to;
            std::copy_n(pkt.begin() + 1, 32, to.bytes.begin());
            if (const auto j = find_peer(to)) {
                ByteVec recv(pkt);
                recv[0] = 7;
                const PublicKey& from = p.conn->client_pk();
                std::copy(from.bytes.begin(), from.bytes.end(), recv.begin() + 1);
                peers_[*j].conn->send(recv);
            }
        } else if (id >= 16 && p.slots[id - 16U].online) {
            const PublicKey& to = p.slots[id - 16U].pk;
            if (const auto j = find_peer(to)) {
                if (const auto s = find_slot(peers_[*j], p.conn->client_pk())) {
                    ByteVec fwd(pkt);
                    fwd[0] = id_of(*s);
                    peers_[*j].conn->send(fwd);
                }
            }
        }
    }

    void route(std::size_t i, const ByteVec& pkt) {
        Peer& p = peers_[i];
        PublicKey want;
        std::copy_n(pkt.begin() + 1, 32, want.bytes.begin());
        ByteVec resp{1, 0};
        resp.insert(resp.end(), want.bytes.begin(), want.bytes.end());
        if (want == p.conn->client_pk()) return p.conn->send(resp);
        if (const auto s = find_slot(p, want)) {
            resp[1] = id_of(*s);
            return p.conn->send(resp);
        }
        const auto free =
            std::find_if(p.slots.begin(), p.slots.end(), [](const Slot& s) { return !s.used; });
        if (free == p.slots.end()) return p.conn->send(resp);
        const auto slot = static_cast<std::size_t>(free - p.slots.begin());
        *free = Slot{true, false, want};
        resp[1] = id_of(slot);
        p.conn->send(resp);
        const auto j = find_peer(want);
        if (!j) return;
        const auto back = find_slot(peers_[*j], p.conn->client_pk());
        if (!back) return;
        free->online = true;
        peers_[*j].slots[*back].online = true;
        p.conn->send(ByteVec{2, id_of(slot)});
        peers_[*j].conn->send(ByteVec{2, id_of(*back)});
    }

    void unlink(std::size_t i, const PublicKey& partner) {
        const auto j = find_peer(partner);
        if (!j) return;
        if (const auto s = find_slot(peers_[*j], peers_[i].conn->client_pk())) {
            peers_[*j].slots[*s].online = false;
            peers_[*j].conn->send(ByteVec{3, id_of(*s)});
        }
    }

    const KeyPair& relay_;
    Rng& rng_;
    std::vector<Peer> peers_;
};

}  // namespace netcrypto::testing
