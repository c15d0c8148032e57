// Fuzz target: one dht::Discovery (small bounds, fuzz/dht_fuzz.hpp) fed a sequence of raw
// datagrams, valid nodes requests and pings from a few peers and addresses, clock steps and
// start/restart/forget commands (input layout: dht_fuzz.hpp).
//
// Checked after every record (a failure aborts): the queue, the targets and the key cache stay
// within their bounds; every datagram written is a 33-byte LAN discovery packet to an address
// being learnt, an 82-byte answer or a 113-byte answer to a LAN discovery packet from a LAN
// address, never more answers than requests received; events never
// outnumber successful start/restart calls and match the stats; a learnt key is one of the
// peers' keys (a box opened); after handle_timeout(now) nothing is due at `now`.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

#include <netcrypto/time.hpp>

#include "core/dht/discovery.hpp"
#include "core/dht/packets.hpp"
#include "dht_fuzz.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace netcrypto;
using namespace netcrypto::dht;
namespace fd = netcrypto::fuzz::dht;

class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
    bool u8(std::uint8_t& v) {
        if (pos_ >= in_.size()) return false;
        v = in_[pos_++];
        return true;
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        n = std::min(n, in_.size() - pos_);
        const auto out = in_.subspan(pos_, n);
        pos_ += n;
        return out;
    }

  private:
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

struct Keys {
    KeyPair ours = fd::our_keys();
    std::array<KeyPair, fd::kPeers> peers{fd::peer_keys(0), fd::peer_keys(1), fd::peer_keys(2)};
    std::array<SharedKey, fd::kPeers> shared{};
    Keys() {
        for (std::size_t i = 0; i < fd::kPeers; ++i) {
            (void)shared[i].precompute(ours.public_key, peers[i].secret_key);
        }
    }
};

const Keys& keys() {
    static const Keys k;
    return k;
}

struct Harness {
    SeededRng rng{1};
    Discovery d{keys().ours, rng, fd::config()};
    Instant now = instant_from_ms(1000);
    std::uint64_t starts = 0;
    std::uint64_t events = 0;
    std::uint64_t requests = 0;  ///< 0x00, 0x02 and 0x21 datagrams handed in
    std::uint64_t answers = 0;   ///< answers polled (82-byte responses, 113-byte requests)
    std::uint64_t lan_sources_answerable = 0;  ///< 0x21 datagrams from LAN addresses

    void datagram(std::size_t src, std::span<const std::uint8_t> bytes) {
        if (!bytes.empty() && (bytes[0] == kNodesRequestType || bytes[0] == kPingRequestType ||
                               bytes[0] == kLanDiscoveryType)) {
            ++requests;
        }
        if (!bytes.empty() && bytes[0] == kLanDiscoveryType && fd::address(src).is_lan()) {
            ++lan_sources_answerable;
        }
        d.handle_datagram(now, fd::address(src), bytes);
    }

    void valid(bool nodes, std::uint8_t src, std::uint8_t peer, std::uint8_t fill) {
        const std::size_t p = peer % fd::kPeers;
        const PublicKey& pk = keys().peers[p].public_key;
        const Nonce nonce = Nonce::random(rng);
        if (nodes) {
            std::array<std::uint8_t, kNodesRequestSize> out{};
            Sendback sb{};
            sb.fill(fill);
            create_nodes_request(pk, keys().shared[p], nonce, pk, sb, out);
            datagram(src, out);
        } else {
            std::array<std::uint8_t, kPingSize> out{};
            PingId id{};
            id.fill(fill);
            create_ping_request(pk, keys().shared[p], nonce, id, out);
            datagram(src, out);
        }
    }

    void command(std::uint8_t c) {
        const Address a = fd::address((c / 3U) % fd::kAddresses);
        switch (c % 3U) {
            case 0:
                if (d.start(now, a)) ++starts;
                break;
            case 1:
                if (d.restart(now, a)) ++starts;
                break;
            default:
                (void)d.forget(a);
                break;
        }
    }

    void poll() {
        std::array<std::uint8_t, kMaxDiscoveryDatagramSize> buf{};
        while (auto t = d.poll_transmit(buf)) {
            if (t->size == kLanDiscoverySize) {
                NETCRYPTO_FUZZ_CHECK(buf[0] == kLanDiscoveryType);
            } else {
                const bool answer = t->size == kPingSize &&
                                    (buf[0] == kPingResponseType || buf[0] == kNodesResponseType);
                const bool bootstrap = t->size == kNodesRequestSize && buf[0] == kNodesRequestType;
                NETCRYPTO_FUZZ_CHECK(answer || bootstrap);
                ++answers;
            }
        }
        while (auto e = d.poll_event()) {
            ++events;
            if (const auto* learnt = std::get_if<KeyLearned>(&*e)) {
#ifndef NETCRYPTO_FUZZ_IDENTITY_CRYPTO
                // X25519 ignores the top bit of a public key, so a peer's key with that bit
                // flipped names the same point and opens the same boxes: equal up to that bit.
                auto same_point = [](const PublicKey& a, const PublicKey& b) {
                    for (std::size_t i = 0; i + 1 < a.bytes.size(); ++i) {
                        if (a.bytes[i] != b.bytes[i]) return false;
                    }
                    return ((a.bytes.back() ^ b.bytes.back()) & 0x7FU) == 0;
                };
                bool known = false;
                for (const auto& p : keys().peers) {
                    known = known || same_point(p.public_key, learnt->dht_pk);
                }
                NETCRYPTO_FUZZ_CHECK(known);
#else
                (void)learnt;
#endif
            } else {
                NETCRYPTO_FUZZ_CHECK(std::get<NoAnswer>(*e).sends == fd::config().max_sends);
            }
        }
    }

    void check() const {
        const auto cfg = fd::config();
        NETCRYPTO_FUZZ_CHECK(d.queued() <= cfg.max_queued);
        NETCRYPTO_FUZZ_CHECK(d.targets() <= cfg.max_targets);
        NETCRYPTO_FUZZ_CHECK(d.cached_keys() <= cfg.key_cache_size);
        NETCRYPTO_FUZZ_CHECK(events <= starts);
        NETCRYPTO_FUZZ_CHECK(answers <= requests);
        const auto& s = d.stats();
        NETCRYPTO_FUZZ_CHECK(s.nodes_answered + s.pings_answered + s.lan_discovery_answered <=
                             requests);
        NETCRYPTO_FUZZ_CHECK(s.lan_discovery_answered <= lan_sources_answerable);
        NETCRYPTO_FUZZ_CHECK(s.keys_learnt + s.failures <= starts);
        NETCRYPTO_FUZZ_CHECK(events <= s.keys_learnt + s.failures);
        NETCRYPTO_FUZZ_CHECK(d.next_timeout().has_value() == (d.targets() > 0));
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness h;
    Reader r(fuzz::input(data, size));
    std::uint8_t op = 0;
    while (r.u8(op)) {
        std::uint8_t a = 0;
        std::uint8_t b = 0;
        std::uint8_t c = 0;
        switch (op % fd::kOps) {
            case fd::kOpRaw:
                if (!r.u8(a) || !r.u8(b)) break;
                h.datagram(a, r.take(b));
                break;
            case fd::kOpNodesRequest:
            case fd::kOpPing:
                if (!r.u8(a) || !r.u8(b) || !r.u8(c)) break;
                h.valid(op % fd::kOps == fd::kOpNodesRequest, a, b, c);
                break;
            case fd::kOpTime:
                if (!r.u8(a)) break;
                h.now += std::chrono::milliseconds(7 * a);
                h.d.handle_timeout(h.now);
                if (const auto next = h.d.next_timeout()) NETCRYPTO_FUZZ_CHECK(*next > h.now);
                break;
            case fd::kOpCommand:
                if (!r.u8(a)) break;
                h.command(a);
                break;
            default:
                h.poll();
                break;
        }
        h.check();
    }
    h.poll();
    h.check();
    return 0;
}
