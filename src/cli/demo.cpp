// `netcrypto demo`: two endpoints in one process over real loopback UDP sockets. Shows every
// status transition of both sides, moves N bytes with a progress bar, verifies them by hash
// (BLAKE2b-256).
#include <array>
#include <chrono>
#include <iostream>
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

}  // namespace

Outcome<void> run_demo(const DemoOptions& o) {
    Reporter reporter(o.json);
    SodiumRng rng;
    const Instant t0 = runtime::monotonic_now();
    EndpointConfig cfg_b;
    cfg_b.accept_all = true;
    Endpoint a(KeyPair::generate(rng), KeyPair::generate(rng), rng, t0);
    Endpoint b(KeyPair::generate(rng), KeyPair::generate(rng), rng, t0, cfg_b);

    PayloadSource source(o.bytes);
    crypto_generichash_state rx_hash{};
    crypto_generichash_init(&rx_hash, nullptr, 0, 32);
    std::uint64_t received = 0;

    friends::FriendLayer fa(a, {});
    friends::FriendCallbacks cb_b;
    cb_b.on_stream = [&](ConnectionId, std::span<const std::uint8_t> bytes) {
        crypto_generichash_update(&rx_hash, bytes.data(), bytes.size());
        received += bytes.size();
    };
    friends::FriendLayer fb(b, std::move(cb_b));

    runtime::Loop loop;
    runtime::BindOptions bo;
    bo.drop_probability = o.loss_percent / 100.0;
    bool a_up = false;
    bool b_up = false;
    std::optional<Failure> failure;
    bool closing = false;
    std::function<void()> writable_hook;
    auto watch = [&](const char* side, friends::FriendLayer& fl, bool& up) {
        return [&, side](const Event& e) {
            if (const auto* s = e.get_if<StatusChanged>()) {
                reporter.status(*s, side);
                if (s->to == Status::kEstablished) up = true;
                if (s->to == Status::kClosed && !closing) {
                    failure = Failure{fmt::format("side {} closed: {} while {}", side,
                                                  to_string(s->reason), to_string(s->from))};
                }
            }
            // The friend layer paces the stream by acknowledgements: retry on either event.
            if ((e.is<Writable>() || e.is<Acked>()) && writable_hook) {
                writable_hook();
            }
            fl.on_event(runtime::monotonic_now(), e);
        };
    };
    const auto loopback = Address::ipv4(127, 0, 0, 1, 0);
    auto addr_a = loop.attach(a, loopback, watch("A", fa, a_up), bo);
    if (!addr_a) return fail(addr_a.error());
    auto addr_b = loop.attach(b, loopback, watch("B", fb, b_up), bo);
    if (!addr_b) return fail(addr_b.error());
    if (auto sig = loop.handle_signals([](int) {}); !sig) return fail(sig.error());
    reporter.ready(a.public_key(), a.dht_public_key(), *addr_a);
    reporter.ready(b.public_key(), b.dht_public_key(), *addr_b);

    const Instant start = runtime::monotonic_now();
    auto id = a.connect(start, b.public_key(), b.dht_public_key(), *addr_b);
    if (!id) return fail(fmt::format("connect failed: {}", to_string(id.error())));
    while (!(a_up && b_up) && !failure && !loop.stopped()) {
        loop.run_once(std::chrono::milliseconds{100});
        if (runtime::monotonic_now() - start > std::chrono::seconds{20}) {
            return fail("handshake did not complete within 20 s");
        }
    }
    if (failure) return tl::unexpected(*failure);
    if (loop.stopped()) return fail("interrupted");
    const Instant established = runtime::monotonic_now();
    const double handshake_ms =
        std::chrono::duration<double, std::milli>(established - start).count();

    std::span<const std::uint8_t> chunk = source.next();
    Instant last_progress = established;
    Instant last_bar = established;
    std::uint64_t last_received = 0;
    bool blocked = false;  // the send buffer is full: wait for kWritable instead of spinning
    writable_hook = [&] { blocked = false; };
    while (received < o.bytes && !failure && !loop.stopped()) {
        const Instant now = runtime::monotonic_now();
        while (!chunk.empty() && !blocked) {
            auto n = fa.send_stream(now, *id, chunk);
            if (!n) return fail(fmt::format("send failed: {}", to_string(n.error())));
            if (*n == 0) {
                blocked = true;
                break;
            }
            chunk = chunk.subspan(*n);
            if (chunk.empty()) chunk = source.next();
        }
        for (auto* fl : {&fa, &fb}) {
            if (auto t = fl->next_timeout(); t && *t <= now) fl->on_timeout(now);
        }
        loop.run_once(chunk.empty() || blocked ? std::chrono::milliseconds{50} : Duration::zero());
        if (received != last_received) {
            last_received = received;
            last_progress = now;
        } else if (now - last_progress > std::chrono::seconds{30}) {
            return fail(fmt::format("transfer stalled at {} of {} bytes", received, o.bytes));
        }
        if (now - last_bar > std::chrono::milliseconds{200}) {
            last_bar = now;
            progress(received, o.bytes, std::chrono::duration<double>(now - established).count(),
                     o.json);
        }
    }
    if (failure) return tl::unexpected(*failure);
    if (loop.stopped()) return fail("interrupted");
    const Instant done = runtime::monotonic_now();
    const double seconds = std::chrono::duration<double>(done - established).count();
    progress(received, o.bytes, seconds, o.json);
    if (!o.json) std::cerr << "\n";

    std::uint64_t retransmissions = 0;
    if (auto info = a.info(*id)) retransmissions = info->stats.retransmissions;
    closing = true;
    (void)a.close(done, *id);
    loop.flush();
    for (int i = 0; i < 20 && b.connections().size() > 0; ++i) {
        loop.run_once(std::chrono::milliseconds{10});
    }

    const auto tx = source.digest();
    std::array<std::uint8_t, 32> rx{};
    crypto_generichash_final(&rx_hash, rx.data(), rx.size());
    const bool match = sodium_memcmp(tx.data(), rx.data(), tx.size()) == 0;
    const auto sa = loop.stats(a);
    const auto sb = loop.stats(b);
    const double mib_s = static_cast<double>(received) / seconds / (1 << 20);

    if (o.json) {
        nlohmann::json j{{"event", "result"},
                         {"bytes", received},
                         {"handshake_ms", handshake_ms},
                         {"seconds", seconds},
                         {"mib_per_s", mib_s},
                         {"retransmissions", retransmissions},
                         {"injected_drops", sa.injected_drops + sb.injected_drops},
                         {"blake2b_sent", hex(tx)},
                         {"blake2b_received", hex(rx)},
                         {"hash_match", match}};
        std::cout << j.dump() << std::endl;
    } else {
        std::cout << fmt::format("handshake:       {:.3f} ms (connect → both Established)\n",
                                 handshake_ms);
        std::cout << fmt::format(
            "transferred:     {} bytes in {:.3f} s = {:.1f} MiB/s ({:.0f} Mbit/s)\n", received,
            seconds, mib_s, mib_s * 8 * 1.048576);
        std::cout << fmt::format("retransmissions: {} (datagrams dropped on purpose: {})\n",
                                 retransmissions, sa.injected_drops + sb.injected_drops);
        std::cout << fmt::format("blake2b sent:     {}\nblake2b received: {}\n", hex(tx), hex(rx));
        std::cout << (match ? "hash match: OK\n" : "hash match: MISMATCH\n");
    }
    for (auto [side, ep] : {std::pair{"A", &a}, std::pair{"B", &b}}) {
        std::string drops;
        for (std::size_t r = 0; r < kDropReasonCount; ++r) {
            if (ep->stats().dropped[r] == 0) continue;
            drops += fmt::format(" {}={}", to_string(static_cast<DropReason>(r)),
                                 ep->stats().dropped[r]);
        }
        if (!drops.empty()) reporter.note(fmt::format("drops_{}", side), drops);
    }
    if (!match) return fail("received data does not match what was sent (hash mismatch)");
    return {};
}

}  // namespace netcrypto::cli
