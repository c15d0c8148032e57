// Fuzz target: an Endpoint holding a connection in every status plus a pending incoming request
// (fuzz/endpoint_scenario.hpp) is fed arbitrary datagrams from arbitrary addresses — the peers'
// own addresses included, so the bound-address paths are reached — interleaved with timer ticks
// and application calls (input format: endpoint_scenario.hpp).
//
// Checked after every record (a failure aborts): every datagram written is 1..1400 bytes and a
// record makes fewer than 4096 of them; timers converge (handle_timeout at `now` stops asking
// for `now` within 64 calls); every status event is a transition the status machine allows,
// from the status last reported for that connection, with a reason exactly when it closes or
// restarts; and the connections alive are exactly those whose last reported status is not
// Closed, each with that status.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include <netcrypto/endpoint.hpp>

#include "endpoint_scenario.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace netcrypto;
namespace ep = netcrypto::fuzz::endpoint;

const ep::Recording& recording() {
    static const ep::Recording rec = ep::record();
    return rec;
}

class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
    bool u8(std::uint8_t& v) {
        if (pos_ >= in_.size()) return false;
        v = in_[pos_++];
        return true;
    }
    bool u16(std::uint16_t& v) {
        std::uint8_t lo = 0;
        std::uint8_t hi = 0;
        if (!u8(lo) || !u8(hi)) return false;
        v = static_cast<std::uint16_t>(lo | (hi << 8U));
        return true;
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        n = std::min(n, in_.size() - pos_);
        auto s = in_.subspan(pos_, n);
        pos_ += n;
        return s;
    }

  private:
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

bool transition_allowed(const StatusChanged& e) {
    using S = Status;
    const bool replaced = e.reason == CloseReason::kReplaced;
    if (e.to == S::kClosed) return e.from != S::kClosed && e.reason != CloseReason::kNone;
    if (e.from == S::kCookieRequesting && e.to == S::kCookieRequesting) {
        return e.reason == CloseReason::kNone || replaced;
    }
    if (e.to == S::kCookieRequesting) {
        return replaced && (e.from == S::kHandshakeSending || e.from == S::kNotConfirmed);
    }
    if (e.reason != CloseReason::kNone) return false;
    return (e.from == S::kNotConfirmed && e.to == S::kNotConfirmed) ||
           (e.from == S::kCookieRequesting && e.to == S::kHandshakeSending) ||
           (e.from == S::kHandshakeSending && e.to == S::kNotConfirmed) ||
           (e.from == S::kNotConfirmed && e.to == S::kEstablished);
}

class Harness {
  public:
    Harness() : e_(*server_.endpoint) {
        ep::replay(recording(), e_);
        now_ = recording().end;
        std::array<int, 5> by_status{};
        for (ConnectionId id : e_.connections()) {
            auto info = e_.info(id);
            NETCRYPTO_FUZZ_CHECK(info.has_value());
            status_[id.value] = info->status;
            ++by_status.at(static_cast<std::size_t>(info->status));
        }
        // The scenario really holds one connection in each status (else the setup broke).
        NETCRYPTO_FUZZ_CHECK((by_status == std::array<int, 5>{1, 1, 1, 1, 0}));
        NETCRYPTO_FUZZ_CHECK(recording().extras.size() >= 6);
    }

    void run(Reader& r) {
        std::uint8_t op = 0;
        while (r.u8(op)) {
            if (!record(op, r)) return;
            settle();
        }
    }

  private:
    bool record(std::uint8_t op, Reader& r) {
        switch (op & 7U) {
            case ep::kOpExtra:
            case ep::kOpScript:
                return resend(op, r);
            case ep::kOpTimer: {
                std::uint16_t dt = 0;
                if (!r.u16(dt)) return false;
                now_ += std::chrono::milliseconds{dt};
                e_.handle_timeout(now_);
                return true;
            }
            case ep::kOpApp:
                return app(r);
            default: {
                std::uint8_t sel = 0;
                std::uint8_t dt = 0;
                std::uint16_t len = 0;
                if (!r.u8(sel) || !r.u8(dt) || !r.u16(len)) return false;
                now_ += std::chrono::milliseconds{dt};
                deliver(ep::address_for(sel), r.take(len % 1600U));
                return true;
            }
        }
    }

    bool resend(std::uint8_t op, Reader& r) {
        std::uint8_t idx = 0;
        std::uint8_t dt = 0;
        std::uint16_t pos = 0;
        std::uint8_t mask = 0;
        if (!r.u8(idx) || !r.u8(dt) || !r.u16(pos) || !r.u8(mask)) return false;
        const auto& rec = recording();
        ep::Bytes bytes;
        Address from;
        if ((op & 7U) == ep::kOpExtra) {
            if (rec.extras.empty()) return true;
            const auto& x = rec.extras[idx % rec.extras.size()];
            bytes = x.bytes;
            from = x.from;
        } else {
            std::vector<const ep::Step*> deliveries;
            for (const auto& s : rec.steps) {
                if (s.kind == ep::Step::Kind::kDeliver) deliveries.push_back(&s);
            }
            if (deliveries.empty()) return true;
            const auto* s = deliveries[idx % deliveries.size()];
            bytes = s->bytes;
            from = s->from;
        }
        if ((op & 0x80U) != 0) from = ep::address_for(static_cast<std::uint8_t>(op >> 3U));
        if (mask != 0 && !bytes.empty()) bytes[pos % bytes.size()] ^= mask;
        now_ += std::chrono::milliseconds{dt};
        deliver(from, bytes);
        return true;
    }

    bool app(Reader& r) {
        std::uint8_t what = 0;
        std::uint8_t sel = 0;
        if (!r.u8(what) || !r.u8(sel)) return false;
        const auto ids = e_.connections();
        const std::optional<ConnectionId> id =
            ids.empty() ? std::nullopt : std::optional<ConnectionId>(ids[sel % ids.size()]);
        std::array<std::uint8_t, kMaxMessageSize> out{};
        switch (what % 8U) {
            case 0:
                if (id) NETCRYPTO_FUZZ_CHECK(e_.close(now_, *id).has_value());
                break;
            case 1:
                if (id) {
                    const std::array<std::uint8_t, 2> m{static_cast<std::uint8_t>(160U + sel % 32U),
                                                        sel};
                    (void)e_.send_lossless(now_, *id, m);
                }
                break;
            case 2:
                if (id) (void)e_.send_lossy(now_, *id, std::array<std::uint8_t, 2>{200, sel});
                break;
            case 3:
                if (id) {
                    for (int i = 0; i < 64; ++i) {
                        auto n = e_.read_lossless(now_, *id, out);
                        NETCRYPTO_FUZZ_CHECK(n.has_value());
                        if (*n == 0) break;
                    }
                    for (int i = 0; i < 64; ++i) {
                        auto n = e_.read_lossy(*id, out);
                        NETCRYPTO_FUZZ_CHECK(n.has_value());
                        if (*n == 0) break;
                    }
                }
                break;
            case 4:
                (void)e_.accept(now_, RequestId{sel % 8U});
                break;
            case 5:
                (void)e_.reject(RequestId{sel % 8U});
                break;
            case 6: {
                const auto& rec = recording();
                const std::size_t p = sel % ep::kPeers;
                (void)e_.connect(now_, rec.peer_keys[p], rec.peer_dht_keys[p], ep::peer_address(p));
                break;
            }
            default:
                if (id) {
                    NETCRYPTO_FUZZ_CHECK(e_.info(*id).has_value());
                    NETCRYPTO_FUZZ_CHECK(e_.send_capacity(*id).has_value());
                }
                (void)e_.find(recording().peer_keys[sel % ep::kPeers]);
                break;
        }
        return true;
    }

    void deliver(const Address& from, std::span<const std::uint8_t> bytes) {
        const auto before = e_.stats().datagrams_received;
        e_.handle_datagram(now_, from, bytes);
        NETCRYPTO_FUZZ_CHECK(e_.stats().datagrams_received == before + 1);
    }

    void drain() {
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        int sent = 0;
        while (auto t = e_.poll_transmit(now_, buf)) {
            NETCRYPTO_FUZZ_CHECK(t->size > 0 && t->size <= kMaxDatagramSize);
            NETCRYPTO_FUZZ_CHECK(++sent < 4096);
        }
        while (auto ev = e_.poll_event()) {
            const auto* sc = ev->get_if<StatusChanged>();
            if (sc == nullptr) continue;
            NETCRYPTO_FUZZ_CHECK(transition_allowed(*sc));
            auto it = status_.find(sc->connection.value);
            if (it == status_.end()) {
                // A new connection announces itself.
                NETCRYPTO_FUZZ_CHECK(sc->from == sc->to && sc->reason == CloseReason::kNone);
                status_[sc->connection.value] = sc->to;
            } else {
                NETCRYPTO_FUZZ_CHECK(it->second == sc->from);
                if (sc->to == Status::kClosed) {
                    status_.erase(it);
                } else {
                    it->second = sc->to;
                }
            }
        }
    }

    /// Output drained, timers run until nothing is due at `now`, state consistent.
    void settle() {
        drain();
        int rounds = 0;
        for (auto next = e_.next_timeout(); next && *next <= now_; next = e_.next_timeout()) {
            NETCRYPTO_FUZZ_CHECK(++rounds < 64);
            e_.handle_timeout(now_);
            drain();
        }
        const auto ids = e_.connections();
        NETCRYPTO_FUZZ_CHECK(ids.size() == status_.size());
        for (ConnectionId id : ids) {
            auto info = e_.info(id);
            NETCRYPTO_FUZZ_CHECK(info.has_value());
            auto it = status_.find(id.value);
            NETCRYPTO_FUZZ_CHECK(it != status_.end() && it->second == info->status);
        }
    }

    ep::Server server_;
    Endpoint& e_;
    Instant now_;
    std::map<std::uint64_t, Status> status_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Reader r(netcrypto::fuzz::input(data, size));
    Harness h;
    h.run(r);
    return 0;
}
