// Micro-benchmarks of the protocol pieces between the codecs and the endpoint: handshake
// create/consume, REQUEST encode/decode, and the send/receive rings.
#include <array>
#include <vector>

#include <benchmark/benchmark.h>

#include <netcrypto/random.hpp>

#include "core/cookie.hpp"
#include "core/data/recv_buffer.hpp"
#include "core/data/request.hpp"
#include "core/data/send_buffer.hpp"
#include "core/handshake.hpp"

namespace {

using namespace netcrypto;

/// create_handshake + consume_handshake with precomputed long-term keys (what a handshake
/// costs beyond its X25519 operations).
void BM_HandshakeCreateConsume(benchmark::State& state) {
    SeededRng rng(3);
    const Instant now{std::chrono::seconds{100}};
    const KeyPair alice = KeyPair::generate(rng);
    const KeyPair bob = KeyPair::generate(rng);
    const KeyPair bob_dht = KeyPair::generate(rng);
    core::CookieJar bob_jar(rng, std::chrono::seconds{8});
    core::CookieJar alice_jar(rng, std::chrono::seconds{8});
    crypto::SharedKey shared;
    (void)shared.precompute(bob.public_key, alice.secret_key);
    const wire::Cookie bobs_cookie = bob_jar.issue(now, alice.public_key, bob_dht.public_key, rng);
    handshake::HandshakeParams p;
    p.peer_cookie = &bobs_cookie;
    p.base_nonce = crypto::Nonce::random(rng);
    p.session_pk = KeyPair::generate(rng).public_key;
    p.other_cookie = alice_jar.issue(now, bob.public_key, bob_dht.public_key, rng);
    for (auto _ : state) {
        const auto bytes = handshake::create_handshake(p, shared, rng);
        auto info = handshake::consume_handshake(bytes, bob_jar, now, &alice.public_key,
                                                 [&](const PublicKey&) { return &shared; });
        benchmark::DoNotOptimize(info);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HandshakeCreateConsume);

/// REQUEST for a receive window of `range(0)` packets with every 10th missing: encode from
/// the receive ring, decode against the send ring's view.
void BM_RequestEncodeDecode(benchmark::State& state) {
    const auto window = static_cast<std::uint32_t>(state.range(0));
    data::RecvBuffer recv(std::size_t{64} << 20U);
    std::array<std::uint8_t, 64> msg{};
    msg[0] = 160;
    for (std::uint32_t n = 0; n < window; ++n) {
        if (n % 10 != 0) (void)recv.accept(n, msg);
    }
    std::array<std::uint8_t, data::kMaxMessageSize> out{};
    for (auto _ : state) {
        const std::size_t len = recv.encode_request(out);
        std::uint32_t requested = 0;
        data::for_each_decision(std::span<const std::uint8_t>(out).subspan(1, len - 1), 0, window,
                                [&](data::PacketNumber, data::Decision d) {
                                    requested += d == data::Decision::kRequested ? 1U : 0U;
                                });
        benchmark::DoNotOptimize(requested);
    }
    state.SetItemsProcessed(state.iterations() * window);
}
BENCHMARK(BM_RequestEncodeDecode)->Arg(256)->Arg(4096);

/// One message through both rings: push, mark sent, accept at the receiver, pop in order,
/// cumulative ack at the sender.
void BM_RingInsertDrain(benchmark::State& state) {
    data::SendBuffer send(std::size_t{8} << 20U);
    data::RecvBuffer recv(std::size_t{8} << 20U);
    std::array<std::uint8_t, data::kMaxMessageSize> msg{};
    msg[0] = 160;
    Instant now{std::chrono::seconds{1}};
    for (auto _ : state) {
        auto n = send.push(msg);
        send.mark_sent(*n, now);
        (void)recv.accept(*n, send.entry(*n)->message);
        auto m = recv.pop_ready();
        benchmark::DoNotOptimize(m);
        (void)send.ack_up_to(recv.start(), now);
        now += std::chrono::microseconds{1};
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(msg.size()));
}
BENCHMARK(BM_RingInsertDrain);

}  // namespace
