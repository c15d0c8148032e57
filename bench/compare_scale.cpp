// netcrypto_compare scale: one server endpoint holding N Established connections whose peers
// are simulated in memory (issue 15, points 1 and 4). Every connection is set up by a real
// handshake through the server's public entry points (cookie request → cookie response →
// handshake → handshake → first data packet); the simulated peer does its side with the core's
// packet functions and keeps only its session key, nonce and packet number (~100 bytes), so a
// million peers fit where a million client endpoints would not.
//
// Measures: setup time and memory (heap via mallinfo2, RSS), CPU per received packet (100-byte
// lossy, 1373-byte lossless) next to libsodium's crypto_box_open_easy_afternm of the same
// bytes, operator-new calls per packet, and the idle timer cost (handle_timeout driven by
// next_timeout over simulated time: wake-ups, timers due, CPU).
#include "compare_scale.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <malloc.h>
#include <new>

#include <sodium.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>

#include "compare_common.hpp"
#include "core/connection.hpp"
#include "core/handshake.hpp"
#include "core/wire/packets.hpp"

namespace {
std::atomic<std::uint64_t> g_news{0};  ///< operator new calls (all threads)
}  // namespace

// Counting replacements of the global allocation functions (the whole program's C++ heap use).
// GCC pairs the inlined replacement new with free() and warns; they do match here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*n*/) noexcept { std::free(p); }

namespace netcrypto::bench {

namespace {

std::int64_t heap_bytes() {
    const struct mallinfo2 mi = ::mallinfo2();
    return static_cast<std::int64_t>(mi.uordblks + mi.hblkhd);
}

/// One simulated peer: what it needs to keep sending valid data packets to the server.
struct SimPeer {
    crypto::SharedKey key;  ///< the session key
    crypto::Nonce send_nonce;
    std::uint32_t next_number = 0;  ///< next lossless packet number
    Address addr;
};

EndpointConfig server_config(std::size_t n) {
    EndpointConfig cfg;
    cfg.accept_all = true;
    cfg.cookie_rate_burst = 1e12;
    cfg.key_agreements_per_second = std::numeric_limits<double>::infinity();
    cfg.max_connections = n;
    // The simulated peers never answer REQUESTs: keep their connections open for the run.
    cfg.silence_timeout = std::chrono::hours{24 * 365};
    return cfg;
}

Address peer_address(std::size_t i) {
    return Address::ipv4(10, static_cast<std::uint8_t>(i >> 16U),
                         static_cast<std::uint8_t>(i >> 8U), static_cast<std::uint8_t>(i),
                         static_cast<std::uint16_t>(1000 + (i >> 24U)));
}

class Scale {
  public:
    explicit Scale(std::size_t n)
        : rng_(15),
          keys_(KeyPair::generate(rng_)),
          server_(keys_, keys_, rng_, now_, server_config(n)) {
        peers_.resize(n);
    }

    /// Connects peer `i` by a real handshake; false if any step failed.
    bool establish(std::size_t i);
    /// Runs the server's timers that are due and discards what it sends.
    void tick() {
        while (auto t = server_.next_timeout()) {
            if (*t > now_) break;
            server_.handle_timeout(now_);
            drain();
        }
    }
    std::size_t drain() {
        std::size_t n = 0;
        while (server_.poll_transmit(now_, buf_)) ++n;
        return n;
    }
    /// Seals one data packet from peer `p` into `out`; its size.
    static std::size_t seal(SimPeer& p, std::span<const std::uint8_t> message, std::uint32_t number,
                            std::span<std::uint8_t> out);

    Instant now_{std::chrono::seconds{1000}};
    SeededRng rng_;
    KeyPair keys_;  ///< the server's long-term and DHT key (one pair: one X25519 per peer side)
    Endpoint server_;
    std::vector<SimPeer> peers_;
    std::array<std::uint8_t, kMaxDatagramSize> buf_{};

  private:
    /// The next datagram the server sends to `to` (others are discarded).
    std::optional<std::span<const std::uint8_t>> reply_to(const Address& to) {
        while (auto t = server_.poll_transmit(now_, buf_)) {
            if (t->destination == to) return std::span<const std::uint8_t>(buf_).first(t->size);
        }
        return std::nullopt;
    }
};

std::size_t Scale::seal(SimPeer& p, std::span<const std::uint8_t> message, std::uint32_t number,
                        std::span<std::uint8_t> out) {
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
    const std::size_t n = wire::encode_data_plain(0, number, message, plain);
    wire::encode_data_header(p.send_nonce.low16(), out.first<wire::kDataHeaderSize>());
    if (n == 0 || !crypto::seal(p.key, p.send_nonce, std::span<const std::uint8_t>(plain).first(n),
                                out.subspan(wire::kDataHeaderSize, wire::kMacSize + n))) {
        return 0;
    }
    p.send_nonce.increment();
    return wire::kDataHeaderSize + wire::kMacSize + n;
}

bool Scale::establish(std::size_t i) {
    SimPeer& p = peers_[i];
    p.addr = peer_address(i);
    const KeyPair me = KeyPair::generate(rng_);  // the peer's long-term and DHT key
    crypto::SharedKey shared;
    if (!shared.precompute(server_.public_key(), me.secret_key)) return false;
    wire::EchoId echo{};
    rng_.fill(echo);
    const auto request =
        handshake::create_cookie_request(me.public_key, me.public_key, shared, echo, rng_);
    server_.handle_datagram(now_, p.addr, request);
    auto response = reply_to(p.addr);
    if (!response) return false;
    auto cookie = handshake::consume_cookie_response(*response, shared, echo);
    if (!cookie) return false;
    const core::OurHalf ours = core::OurHalf::generate(rng_);
    const handshake::HandshakeParams params{
        &*cookie, ours.base_nonce, ours.session_keys.public_key, {}};
    server_.handle_datagram(now_, p.addr, handshake::create_handshake(params, shared, rng_));
    auto theirs = reply_to(p.addr);
    if (!theirs) return false;
    auto hs = wire::decode_handshake(*theirs);
    if (!hs) return false;
    std::array<std::uint8_t, wire::kHandshakePlainSize> plain{};
    if (!crypto::open(shared, hs->nonce, hs->encrypted, plain)) return false;
    auto hp = wire::decode_handshake_plain(plain);
    if (!hp || !p.key.precompute(hp->session_pk, ours.session_keys.secret_key)) return false;
    p.send_nonce = ours.base_nonce;
    // The first data packet confirms the session: the server's side becomes Established.
    const std::array<std::uint8_t, 1> ping{wire::kFirstLossyId};
    const std::size_t n = seal(p, ping, 0, buf_);
    server_.handle_datagram(now_, p.addr, std::span<const std::uint8_t>(buf_).first(n));
    drain();
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    while (auto e = server_.poll_event()) {
        if (const auto* r = e->get_if<Readable>()) {
            while (auto got = server_.read_lossy(r->connection, msg)) {
                if (*got == 0) break;
            }
        }
    }
    return true;
}

/// With NETCRYPTO_PERF_CTL=<fifo> (perf record -D -1 --control=fifo:<fifo>), only the timed
/// receive loops are profiled.
void perf_control(const char* command) {
    static const char* path = std::getenv("NETCRYPTO_PERF_CTL");
    if (path == nullptr) return;
    if (FILE* f = std::fopen(path, "w")) {
        std::fputs(command, f);
        std::fclose(f);
    }
}

/// Received packets as a recvmmsg batch would hold them: bytes back to back, with their peer.
struct Batch {
    std::vector<std::uint8_t> wire;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  ///< offset, size
    std::vector<std::uint32_t> from;                         ///< peer index
};

/// Fills `b` with one packet from each of `count` peers in a scattered order.
void build_batch(Scale& s, Batch& b, std::size_t count, std::size_t& cursor, bool lossless) {
    b.wire.clear();
    b.spans.clear();
    b.from.clear();
    const std::size_t n = s.peers_.size();
    std::array<std::uint8_t, wire::kMaxMessageSize> msg{};
    msg.fill(0x5A);
    msg[0] = lossless ? wire::kFirstLosslessId : wire::kFirstLossyId;
    const std::size_t len = lossless ? wire::kMaxMessageSize : 100;
    std::array<std::uint8_t, kMaxDatagramSize> pkt{};
    for (std::size_t k = 0; k < count; ++k, ++cursor) {
        const auto i = static_cast<std::uint32_t>((cursor * 7919U) % n);
        SimPeer& p = s.peers_[i];
        const std::uint32_t number = lossless ? p.next_number++ : p.next_number;
        const std::size_t size =
            Scale::seal(p, std::span<const std::uint8_t>(msg).first(len), number, pkt);
        b.spans.emplace_back(b.wire.size(), size);
        b.wire.insert(b.wire.end(), pkt.begin(), pkt.begin() + static_cast<std::ptrdiff_t>(size));
        b.from.push_back(i);
    }
}

json drop_reasons(const EndpointStats& st) {
    json j = json::object();
    for (std::size_t r = 0; r < kDropReasonCount; ++r) {
        if (st.dropped[r] > 0)
            j[std::string(to_string(static_cast<DropReason>(r)))] = st.dropped[r];
    }
    return j;
}

/// Hands one batch to the server as a runtime would: each datagram, its events, reading every
/// message; what the endpoint queued (acknowledgements) is sent after each receive batch.
/// Returns the message bytes read.
std::uint64_t receive_batch(Scale& s, const Batch& b, bool lossless) {
    constexpr std::size_t kRecvBatch = 64;  ///< datagrams per recvmmsg-style batch
    std::array<std::uint8_t, kMaxMessageSize> out{};
    std::uint64_t bytes = 0;
    for (std::size_t k = 0; k < b.spans.size(); ++k) {
        const auto [off, size] = b.spans[k];
        s.server_.handle_datagram(s.now_, s.peers_[b.from[k]].addr,
                                  std::span<const std::uint8_t>(b.wire).subspan(off, size));
        if ((k + 1) % kRecvBatch == 0) s.drain();
        while (auto e = s.server_.poll_event()) {
            const auto* r = e->get_if<Readable>();
            if (r == nullptr) continue;
            while (auto got = lossless ? s.server_.read_lossless(s.now_, r->connection, out)
                                       : s.server_.read_lossy(r->connection, out)) {
                if (*got == 0) break;
                bytes += *got;
            }
        }
    }
    return bytes;
}

/// CPU per received packet in steady state: handle_datagram, the events, reading the message.
/// An untimed first pass gives every connection one packet of the kind, so the one-time cost of
/// its first message (the lossy queue's slot, the receive buffer's first block) is not counted:
/// at 100,000 connections that first touch would otherwise be a third of the timed packets.
json per_packet(Scale& s, bool lossless, std::size_t total) {
    Batch b;
    std::size_t cursor = 0;
    constexpr std::size_t kBatch = 4096;
    for (std::size_t warm = 0; warm < s.peers_.size(); warm += kBatch) {
        build_batch(s, b, std::min(kBatch, s.peers_.size() - warm), cursor, lossless);
        receive_batch(s, b, lossless);
        s.drain();
    }
    double cpu = 0;
    std::uint64_t news = 0;
    std::uint64_t bytes = 0;
    const auto drops_before = s.server_.stats().total_drops();
    std::size_t done = 0;
    while (done < total) {
        build_batch(s, b, std::min(kBatch, total - done), cursor, lossless);
        const auto news0 = g_news.load();
        perf_control("enable\n");
        const double t0 = thread_cpu_seconds();
        bytes += receive_batch(s, b, lossless);
        cpu += thread_cpu_seconds() - t0;
        perf_control("disable\n");
        news += g_news.load() - news0;
        done += b.spans.size();
        s.drain();
    }
    return json{{"packets", done},
                {"ns_per_packet", cpu * 1e9 / static_cast<double>(done)},
                {"allocations_per_packet", static_cast<double>(news) / static_cast<double>(done)},
                {"bytes_read", bytes},
                {"dropped", s.server_.stats().total_drops() - drops_before},
                {"wire_bytes", b.spans.empty() ? 0 : b.spans.front().second},
                {"drop_reasons", drop_reasons(s.server_.stats())}};
}

/// libsodium's own cost of opening the same packet (precomputed key, the same ciphertext size).
double sodium_open_ns(std::size_t message_len, std::size_t rounds) {
    const std::size_t plain_len = wire::data_plain_size(message_len);
    std::vector<std::uint8_t> plain(plain_len, 0x5A);
    std::vector<std::uint8_t> cipher(plain_len + crypto_box_MACBYTES);
    std::array<std::uint8_t, crypto_box_BEFORENMBYTES> key{};
    std::array<std::uint8_t, crypto_box_NONCEBYTES> nonce{};
    randombytes_buf(key.data(), key.size());
    randombytes_buf(nonce.data(), nonce.size());
    (void)crypto_box_easy_afternm(cipher.data(), plain.data(), plain.size(), nonce.data(),
                                  key.data());
    std::uint64_t ok = 0;
    const double t0 = thread_cpu_seconds();
    for (std::size_t r = 0; r < rounds; ++r) {
        const int rc = crypto_box_open_easy_afternm(plain.data(), cipher.data(), cipher.size(),
                                                    nonce.data(), key.data());
        if (rc == 0) ++ok;
    }
    const double cpu = thread_cpu_seconds() - t0;
    if (ok != rounds) throw std::runtime_error("sodium open failed");
    return cpu * 1e9 / static_cast<double>(rounds);
}

/// Idle: simulated time runs `seconds`; the server is woken at every next_timeout.
json idle(Scale& s, double seconds) {
    // Warm-up, not counted: each connection's first deadline after setup is its handshake
    // resend time (an early heap entry, re-armed without work), once per connection.
    const Instant warm = s.now_ + std::chrono::seconds{2};
    while (auto t = s.server_.next_timeout()) {
        if (*t > warm) break;
        s.now_ = std::max(s.now_, *t);
        s.server_.handle_timeout(s.now_);
        s.drain();
    }
    s.now_ = warm;
    const Instant end =
        s.now_ + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
    std::uint64_t wakeups = 0;
    std::uint64_t sent = 0;
    const auto requests_before = s.server_.stats().datagrams_sent;
    const double t0 = thread_cpu_seconds();
    while (auto t = s.server_.next_timeout()) {
        if (*t > end) break;
        // A wake-up is a new instant; more calls at the same instant (the endpoint fires no
        // more timers than its datagram queue holds) are the same wake-up.
        if (wakeups == 0 || *t > s.now_) ++wakeups;
        s.now_ = std::max(s.now_, *t);
        s.server_.handle_timeout(s.now_);
        sent += s.drain();
    }
    const double cpu = thread_cpu_seconds() - t0;
    s.now_ = end;
    // A wake-up with nothing due (e.g. a spurious one): must not depend on the count.
    constexpr std::uint64_t kEmpty = 100000;
    const double e0 = thread_cpu_seconds();
    for (std::uint64_t k = 0; k < kEmpty; ++k) s.server_.handle_timeout(s.now_);
    const double empty = thread_cpu_seconds() - e0;
    return json{{"simulated_seconds", seconds},
                {"wakeups", wakeups},
                {"wakeups_per_minute", static_cast<double>(wakeups) * 60.0 / seconds},
                {"datagrams", sent},
                {"datagrams_counted", s.server_.stats().datagrams_sent - requests_before},
                {"cpu_seconds", cpu},
                {"cpu_ms_per_simulated_second", cpu * 1e3 / seconds},
                {"ns_per_datagram", sent > 0 ? cpu * 1e9 / static_cast<double>(sent) : 0.0},
                {"empty_call_ns", empty * 1e9 / kEmpty}};
}

json setup(Scale& s) {
    const std::size_t n = s.peers_.size();
    const std::int64_t heap0 = heap_bytes();
    const std::uint64_t rss0 = proc_rss_bytes(::getpid());
    const double cpu0 = thread_cpu_seconds();
    const std::int64_t wall0 = mono_ns();
    // Connections come up spread over one REQUEST interval, as they would in life, so their
    // timers are spread too (wake-ups are then counted honestly).
    const Duration step = std::chrono::duration_cast<Duration>(std::chrono::seconds{1}) /
                          static_cast<std::int64_t>(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!s.establish(i)) throw std::runtime_error("handshake " + std::to_string(i) + " failed");
        s.now_ += step;
        s.tick();
    }
    const double wall = static_cast<double>(mono_ns() - wall0) * 1e-9;
    const double cpu = thread_cpu_seconds() - cpu0;
    ::malloc_trim(0);
    const auto heap = static_cast<double>(heap_bytes() - heap0);
    const auto rss = static_cast<double>(proc_rss_bytes(::getpid())) - static_cast<double>(rss0);
    std::size_t established = 0;
    for (const ConnectionId id : s.server_.connections()) {
        if (auto info = s.server_.info(id); info && info->status == Status::kEstablished)
            ++established;
    }
    return json{{"established", established},
                {"setup_wall_seconds", wall},
                {"setup_cpu_seconds", cpu},
                {"setup_us_per_connection", cpu * 1e6 / static_cast<double>(n)},
                {"heap_bytes", heap},
                {"heap_per_connection", heap / static_cast<double>(n)},
                {"rss_bytes", rss},
                {"rss_per_connection", rss / static_cast<double>(n)},
                {"rss_total_bytes", proc_rss_bytes(::getpid())}};
}

}  // namespace

int scale(const Args& args) {
    const auto n = static_cast<std::size_t>(args.number("--connections", 10000));
    const auto packets = static_cast<std::size_t>(args.number("--packets", 200000));
    const double idle_seconds = args.number("--idle-seconds", 10);
    const auto sodium_rounds = static_cast<std::size_t>(args.number("--sodium-rounds", 200000));
    Scale s(n);
    json out{{"connections", n}};
    out["setup"] = setup(s);
    // Idle first: the packets below would line every connection's timers up at one instant.
    out["idle"] = idle(s, idle_seconds);
    out["lossy"] = per_packet(s, false, packets);
    out["lossless"] = per_packet(s, true, packets);
    out["sodium_open_ns_lossy"] = sodium_open_ns(100, sodium_rounds);
    out["sodium_open_ns_lossless"] = sodium_open_ns(wire::kMaxMessageSize, sodium_rounds);
    std::cout << out.dump() << std::endl;
    return 0;
}

}  // namespace netcrypto::bench
