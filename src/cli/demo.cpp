// `netcrypto demo`: two endpoints in one process over real loopback UDP sockets. Shows every
// status transition of both sides, moves N bytes with a progress bar, verifies them by hash
// (BLAKE2b-256).
#include <array>
#include <chrono>
#include <iostream>
#include <optional>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "cli/commands.hpp"

namespace netcrypto::cli {

namespace {

/// The demo's payload: a ChaCha20 keystream, so both sides can be checked without storing it.
class PayloadSource {
  public:
    explicit PayloadSource(std::uint64_t total) : total_(total) {
        crypto_generichash_init(&hash_, nullptr, 0, 32);
        key_.fill(0x42);
    }
    /// The next chunk (empty when done); hashed as it is produced.
    std::span<const std::uint8_t> next() {
        if (produced_ >= total_) return {};
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), total_ - produced_));
        std::array<std::uint8_t, crypto_stream_chacha20_NONCEBYTES> nonce{};
        const std::uint64_t block = produced_ / buf_.size();
        for (std::size_t i = 0; i < nonce.size(); ++i)
            nonce[i] = static_cast<std::uint8_t>(block >> (8U * i));
        crypto_stream_chacha20(buf_.data(), n, nonce.data(), key_.data());
        crypto_generichash_update(&hash_, buf_.data(), n);
        produced_ += n;
        return std::span<const std::uint8_t>(buf_).first(n);
    }
    std::array<std::uint8_t, 32> digest() {
        std::array<std::uint8_t, 32> d{};
        crypto_generichash_final(&hash_, d.data(), d.size());
        return d;
    }

  private:
    crypto_generichash_state hash_{};  // first: it is 64-byte aligned
    std::array<std::uint8_t, std::size_t{256} * 1024> buf_{};
    std::array<std::uint8_t, 32> key_{};
    std::uint64_t total_;
    std::uint64_t produced_ = 0;
};

std::string hex(std::span<const std::uint8_t> b) {
    std::string s;
    for (auto x : b) s += fmt::format("{:02x}", x);
    return s;
}

void progress(std::uint64_t done, std::uint64_t total, double seconds, bool json) {
    const double pct =
        total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
    const double mbps = seconds > 0 ? static_cast<double>(done) / seconds / (1 << 20) : 0.0;
    if (json) {
        nlohmann::json j{
            {"event", "progress"}, {"bytes", done}, {"total", total}, {"mib_per_s", mbps}};
        std::cerr << j.dump() << std::endl;
        return;
    }
    constexpr int kWidth = 40;
    const int filled = static_cast<int>(pct / 100.0 * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::cerr << fmt::format("\r[{}] {:5.1f}%  {:8.1f} MiB/s", bar, pct, mbps) << std::flush;
}

/// The demo: endpoint A streams o.bytes to endpoint B over loopback UDP. Phases in order;
/// a failure (failure_) or a signal ends the run in any phase.
class DemoSession {
  public:
    enum class Phase {
        kHandshaking,  ///< A connects to B: wait until both sides are Established
        kSending,      ///< A hands the payload to its friend layer
        kBlocked,      ///< A's send queue is full: wait for kWritable or kAcked
        kClosing,      ///< everything arrived: A closes, kClosed is expected now
    };

    explicit DemoSession(const DemoOptions& o);
    DemoSession(const DemoSession&) = delete;
    DemoSession& operator=(const DemoSession&) = delete;

    Outcome<void> run();

  private:
    /// One endpoint with its friend layer.
    struct Side {
        Side(const char* side_name, Rng& rng, Instant now, EndpointConfig cfg,
             friends::FriendCallbacks cb)
            : name(side_name),
              endpoint(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, std::move(cfg)),
              friends(endpoint, std::move(cb)) {}
        const char* name;
        Endpoint endpoint;
        friends::FriendLayer friends;
        bool established = false;  ///< reached Established (stays set)
    };

    /// What the summary reports.
    struct Result {
        double handshake_ms = 0;
        double seconds = 0;
        std::uint64_t retransmissions = 0;
        std::uint64_t injected_drops = 0;
        std::array<std::uint8_t, 32> sent_hash{};
        std::array<std::uint8_t, 32> received_hash{};
        bool match = false;
    };

    static EndpointConfig accept_all();
    friends::FriendCallbacks receiver_callbacks();
    Outcome<void> bind();
    Outcome<void> handshake();
    Outcome<void> transfer();
    Outcome<void> send_chunks(Instant now);
    Outcome<void> watch_progress(Instant now);
    Outcome<void> interrupted_or_failed() const;
    Result finish();
    void print(const Result& r) const;
    void report_drops() const;

    // Events of either side.
    void on_event(Side& side, const Event& e);
    void on_status(Side& side, const StatusChanged& e);
    void on_send_room();

    crypto_generichash_state rx_hash_{};  // first: it is 64-byte aligned (so is source_)
    PayloadSource source_;
    const DemoOptions& o_;
    Reporter reporter_;
    SodiumRng rng_;
    std::uint64_t received_ = 0;
    Side a_;
    Side b_;
    runtime::Loop loop_;  // after the sides: it refers to their endpoints
    Address addr_b_;
    Phase phase_ = Phase::kHandshaking;
    std::optional<Failure> failure_;
    ConnectionId id_;
    Instant start_;                        ///< connect() called
    Instant established_;                  ///< both sides Established
    std::span<const std::uint8_t> chunk_;  ///< payload not yet accepted by A
    Instant last_progress_;                ///< when received_ last changed
    Instant last_bar_;                     ///< when the progress bar was last drawn
    std::uint64_t last_received_ = 0;
};

DemoSession::DemoSession(const DemoOptions& o)
    : source_(o.bytes),
      o_(o),
      reporter_(o.json),
      a_("A", rng_, runtime::monotonic_now(), EndpointConfig{}, {}),
      b_("B", rng_, runtime::monotonic_now(), accept_all(), receiver_callbacks()) {
    crypto_generichash_init(&rx_hash_, nullptr, 0, 32);
}

EndpointConfig DemoSession::accept_all() {
    EndpointConfig cfg;
    cfg.accept_all = true;
    return cfg;
}

friends::FriendCallbacks DemoSession::receiver_callbacks() {
    friends::FriendCallbacks cb;
    cb.on_stream = [this](ConnectionId, std::span<const std::uint8_t> bytes) {
        crypto_generichash_update(&rx_hash_, bytes.data(), bytes.size());
        received_ += bytes.size();
    };
    return cb;
}

Outcome<void> DemoSession::run() {
    if (auto r = bind(); !r) return r;
    if (auto r = handshake(); !r) return r;
    if (auto r = transfer(); !r) return r;
    const Result r = finish();
    print(r);
    report_drops();
    if (!r.match) return fail("received data does not match what was sent (hash mismatch)");
    return {};
}

Outcome<void> DemoSession::bind() {
    runtime::BindOptions bo;
    bo.drop_probability = o_.loss_percent / 100.0;
    const auto loopback = Address::ipv4(127, 0, 0, 1, 0);
    auto addr_a = loop_.attach(
        a_.endpoint, loopback, [this](const Event& e) { on_event(a_, e); }, bo);
    if (!addr_a) return fail(addr_a.error());
    auto addr_b = loop_.attach(
        b_.endpoint, loopback, [this](const Event& e) { on_event(b_, e); }, bo);
    if (!addr_b) return fail(addr_b.error());
    if (auto sig = loop_.handle_signals([](int) {}); !sig) return fail(sig.error());
    addr_b_ = *addr_b;
    reporter_.ready(a_.endpoint.public_key(), "", a_.endpoint.dht_public_key(), *addr_a);
    reporter_.ready(b_.endpoint.public_key(), "", b_.endpoint.dht_public_key(), *addr_b);
    return {};
}

Outcome<void> DemoSession::handshake() {
    start_ = runtime::monotonic_now();
    auto id = a_.endpoint.connect(start_, b_.endpoint.public_key(), b_.endpoint.dht_public_key(),
                                  addr_b_);
    if (!id) return fail(fmt::format("connect failed: {}", to_string(id.error())));
    id_ = *id;
    while (!(a_.established && b_.established) && !failure_ && !loop_.stopped()) {
        loop_.run_once(std::chrono::milliseconds{100});
        if (runtime::monotonic_now() - start_ > std::chrono::seconds{20}) {
            return fail("handshake did not complete within 20 s");
        }
    }
    if (auto r = interrupted_or_failed(); !r) return r;
    established_ = runtime::monotonic_now();
    phase_ = Phase::kSending;
    return {};
}

Outcome<void> DemoSession::transfer() {
    chunk_ = source_.next();
    last_progress_ = established_;
    last_bar_ = established_;
    while (received_ < o_.bytes && !failure_ && !loop_.stopped()) {
        const Instant now = runtime::monotonic_now();
        if (auto r = send_chunks(now); !r) return r;
        for (auto* fl : {&a_.friends, &b_.friends}) {
            if (auto t = fl->next_timeout(); t && *t <= now) fl->on_timeout(now);
        }
        const bool idle = chunk_.empty() || phase_ == Phase::kBlocked;
        loop_.run_once(idle ? std::chrono::milliseconds{50} : Duration::zero());
        if (auto r = watch_progress(now); !r) return r;
    }
    return interrupted_or_failed();
}

/// Hands payload to A until it is all queued or A's queue is full (then kBlocked).
Outcome<void> DemoSession::send_chunks(Instant now) {
    while (!chunk_.empty() && phase_ == Phase::kSending) {
        auto n = a_.friends.send_stream(now, id_, chunk_);
        if (!n) return fail(fmt::format("send failed: {}", to_string(n.error())));
        if (*n == 0) {
            phase_ = Phase::kBlocked;
            break;
        }
        chunk_ = chunk_.subspan(*n);
        if (chunk_.empty()) chunk_ = source_.next();
    }
    return {};
}

/// Fails after 30 s without progress; draws the progress bar every 200 ms.
Outcome<void> DemoSession::watch_progress(Instant now) {
    if (received_ != last_received_) {
        last_received_ = received_;
        last_progress_ = now;
    } else if (now - last_progress_ > std::chrono::seconds{30}) {
        return fail(fmt::format("transfer stalled at {} of {} bytes", received_, o_.bytes));
    }
    if (now - last_bar_ > std::chrono::milliseconds{200}) {
        last_bar_ = now;
        progress(received_, o_.bytes, std::chrono::duration<double>(now - established_).count(),
                 o_.json);
    }
    return {};
}

Outcome<void> DemoSession::interrupted_or_failed() const {
    if (failure_) return tl::unexpected(*failure_);
    if (loop_.stopped()) return fail("interrupted");
    return {};
}

/// The last progress line, the statistics of the live connection, then A closes and B gets
/// up to 200 ms to see it.
DemoSession::Result DemoSession::finish() {
    const Instant done = runtime::monotonic_now();
    Result r;
    r.handshake_ms = std::chrono::duration<double, std::milli>(established_ - start_).count();
    r.seconds = std::chrono::duration<double>(done - established_).count();
    progress(received_, o_.bytes, r.seconds, o_.json);
    if (!o_.json) std::cerr << "\n";
    if (auto info = a_.endpoint.info(id_)) r.retransmissions = info->stats.retransmissions;
    phase_ = Phase::kClosing;
    (void)a_.endpoint.close(done, id_);
    loop_.flush();
    for (int i = 0; i < 20 && b_.endpoint.connections().size() > 0; ++i) {
        loop_.run_once(std::chrono::milliseconds{10});
    }
    r.sent_hash = source_.digest();
    crypto_generichash_final(&rx_hash_, r.received_hash.data(), r.received_hash.size());
    r.match = sodium_memcmp(r.sent_hash.data(), r.received_hash.data(), r.sent_hash.size()) == 0;
    r.injected_drops =
        loop_.stats(a_.endpoint).injected_drops + loop_.stats(b_.endpoint).injected_drops;
    return r;
}

void DemoSession::print(const Result& r) const {
    const double mib_s = static_cast<double>(received_) / r.seconds / (1 << 20);
    if (o_.json) {
        nlohmann::json j{{"event", "result"},
                         {"bytes", received_},
                         {"handshake_ms", r.handshake_ms},
                         {"seconds", r.seconds},
                         {"mib_per_s", mib_s},
                         {"retransmissions", r.retransmissions},
                         {"injected_drops", r.injected_drops},
                         {"blake2b_sent", hex(r.sent_hash)},
                         {"blake2b_received", hex(r.received_hash)},
                         {"hash_match", r.match}};
        std::cout << j.dump() << std::endl;
        return;
    }
    std::cout << fmt::format("handshake:       {:.3f} ms (connect → both Established)\n",
                             r.handshake_ms);
    std::cout << fmt::format(
        "transferred:     {} bytes in {:.3f} s = {:.1f} MiB/s ({:.0f} Mbit/s)\n", received_,
        r.seconds, mib_s, mib_s * 8 * 1.048576);
    std::cout << fmt::format("retransmissions: {} (datagrams dropped on purpose: {})\n",
                             r.retransmissions, r.injected_drops);
    std::cout << fmt::format("blake2b sent:     {}\nblake2b received: {}\n", hex(r.sent_hash),
                             hex(r.received_hash));
    std::cout << (r.match ? "hash match: OK\n" : "hash match: MISMATCH\n");
}

void DemoSession::report_drops() const {
    for (const Side* side : {&a_, &b_}) {
        std::string drops;
        for (std::size_t r = 0; r < kDropReasonCount; ++r) {
            if (side->endpoint.stats().dropped[r] == 0) continue;
            drops += fmt::format(" {}={}", to_string(static_cast<DropReason>(r)),
                                 side->endpoint.stats().dropped[r]);
        }
        if (!drops.empty()) reporter_.note(fmt::format("drops_{}", side->name), drops);
    }
}

/// The one place that reads the fields of an event.
void DemoSession::on_event(Side& side, const Event& e) {
    if (const auto* s = e.get_if<StatusChanged>()) on_status(side, *s);
    // The friend layer paces the stream by acknowledgements: retry on either event.
    if (e.is<Writable>() || e.is<Acked>()) on_send_room();
    side.friends.on_event(runtime::monotonic_now(), e);
}

void DemoSession::on_status(Side& side, const StatusChanged& e) {
    reporter_.status(e, side.name);
    if (e.to == Status::kEstablished) side.established = true;
    if (e.to == Status::kClosed && phase_ != Phase::kClosing) {
        failure_ = Failure{fmt::format("side {} closed: {} while {}", side.name,
                                       to_string(e.reason), to_string(e.from))};
    }
}

void DemoSession::on_send_room() {
    if (phase_ == Phase::kBlocked) phase_ = Phase::kSending;
}

}  // namespace

Outcome<void> run_demo(const DemoOptions& o) {
    DemoSession session(o);
    return session.run();
}

}  // namespace netcrypto::cli
