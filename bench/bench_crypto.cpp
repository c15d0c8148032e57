// Benchmarks of the per-packet costs: sealing and opening a maximum-size data packet (compared
// with raw libsodium secretbox of the same size), issuing and opening cookies, and every codec.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>
#include <sodium.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/cookie.hpp"
#include "core/crypto/crypto.hpp"
#include "core/wire/packets.hpp"

namespace {

using namespace netcrypto;

constexpr std::size_t kPayload = wire::kMaxMessageSize;  // 1373: the largest data message

/// A maximum-size data plaintext (8-byte header, no padding, 1373-byte message).
std::vector<std::uint8_t> max_data_plain(Rng& rng) {
    std::vector<std::uint8_t> message(kPayload);
    rng.fill(message);
    message[0] = 0xA0;  // a custom lossless id
    std::vector<std::uint8_t> plain(wire::data_plain_size(kPayload));
    const std::size_t n = wire::encode_data_plain(1, 2, message, plain);
    plain.resize(n);
    return plain;
}

// crypto::seal + crypto::open of a full 1400-byte data packet's payload (1381-byte plaintext,
// 1397-byte box), as the connection does per packet; bytes processed = the 1373-byte message.
void BM_SealOpen1373(benchmark::State& state) {
    SeededRng rng(1);
    const auto key = crypto::SharedKey::random(rng);
    auto nonce = crypto::Nonce::random(rng);
    const auto plain = max_data_plain(rng);
    std::array<std::uint8_t, wire::kMaxPacketSize> packet{};
    const auto box =
        std::span(packet).subspan(wire::kDataHeaderSize, plain.size() + wire::kMacSize);
    std::vector<std::uint8_t> back(plain.size());
    for (auto _ : state) {
        bool ok = crypto::seal(key, nonce, plain, box);
        ok = ok && crypto::open(key, nonce, box, back);
        if (!ok) state.SkipWithError("seal/open failed");
        nonce.increment();
        benchmark::DoNotOptimize(back.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(kPayload));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_SealOpen1373);

// The same sizes through libsodium's crypto_secretbox_easy/open_easy directly: the floor that
// BM_SealOpen1373 is compared against.
void BM_RawSecretbox1373(benchmark::State& state) {
    SeededRng rng(1);
    std::array<std::uint8_t, crypto_secretbox_KEYBYTES> key{};
    rng.fill(key);
    std::array<std::uint8_t, crypto_secretbox_NONCEBYTES> nonce{};
    rng.fill(nonce);
    const auto plain = max_data_plain(rng);
    std::vector<std::uint8_t> box(plain.size() + crypto_secretbox_MACBYTES);
    std::vector<std::uint8_t> back(plain.size());
    for (auto _ : state) {
        int rc =
            crypto_secretbox_easy(box.data(), plain.data(), plain.size(), nonce.data(), key.data());
        rc |= crypto_secretbox_open_easy(back.data(), box.data(), box.size(), nonce.data(),
                                         key.data());
        if (rc != 0) state.SkipWithError("secretbox failed");
        sodium_increment(nonce.data(), nonce.size());
        benchmark::DoNotOptimize(back.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(kPayload));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RawSecretbox1373);

// One cookie issued (random nonce, seal of 72 bytes) and opened (open, time checks).
void BM_CookieIssueOpen(benchmark::State& state) {
    SeededRng rng(2);
    const core::CookieJar jar(rng, std::chrono::seconds(8));
    PublicKey long_term_pk;
    PublicKey dht_pk;
    rng.fill(long_term_pk.bytes);
    rng.fill(dht_pk.bytes);
    const Instant now = instant_from_ms(1'000'000);
    for (auto _ : state) {
        const auto cookie = jar.issue(now, long_term_pk, dht_pk, rng);
        const auto contents = jar.open(cookie, now);
        if (!contents) state.SkipWithError("cookie did not open");
        benchmark::DoNotOptimize(contents);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(wire::kCookieSize));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_CookieIssueOpen);

// --- codecs: encode + decode of each packet and plaintext ---------------------------------------

template <typename T, std::size_t Size, typename Decode>
void codec_loop(benchmark::State& state, const T& value, Decode decode) {
    std::array<std::uint8_t, Size> buf{};
    for (auto _ : state) {
        wire::encode(value, std::span<std::uint8_t, Size>(buf));
        auto decoded = decode(std::span<const std::uint8_t>(buf));
        if (!decoded) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(decoded);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(Size));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <std::size_t N>
std::array<std::uint8_t, N> random_array(Rng& rng) {
    std::array<std::uint8_t, N> a{};
    rng.fill(a);
    return a;
}

void BM_Codecs_CookieRequest(benchmark::State& state) {
    SeededRng rng(3);
    const wire::CookieRequest v{PublicKey{random_array<32>(rng)}, crypto::Nonce::random(rng),
                                random_array<wire::kCookieRequestCipherSize>(rng)};
    codec_loop<wire::CookieRequest, wire::kCookieRequestSize>(state, v,
                                                              wire::decode_cookie_request);
}
BENCHMARK(BM_Codecs_CookieRequest)->Name("BM_Codecs/cookie_request");

void BM_Codecs_CookieRequestPlain(benchmark::State& state) {
    SeededRng rng(4);
    const wire::CookieRequestPlain v{
        PublicKey{random_array<32>(rng)}, {}, random_array<wire::kEchoIdSize>(rng)};
    codec_loop<wire::CookieRequestPlain, wire::kCookieRequestPlainSize>(
        state, v, wire::decode_cookie_request_plain);
}
BENCHMARK(BM_Codecs_CookieRequestPlain)->Name("BM_Codecs/cookie_request_plain");

void BM_Codecs_CookieResponse(benchmark::State& state) {
    SeededRng rng(5);
    const wire::CookieResponse v{crypto::Nonce::random(rng),
                                 random_array<wire::kCookieResponseCipherSize>(rng)};
    codec_loop<wire::CookieResponse, wire::kCookieResponseSize>(state, v,
                                                                wire::decode_cookie_response);
}
BENCHMARK(BM_Codecs_CookieResponse)->Name("BM_Codecs/cookie_response");

void BM_Codecs_CookieResponsePlain(benchmark::State& state) {
    SeededRng rng(6);
    const wire::CookieResponsePlain v{random_array<wire::kCookieSize>(rng),
                                      random_array<wire::kEchoIdSize>(rng)};
    codec_loop<wire::CookieResponsePlain, wire::kCookieResponsePlainSize>(
        state, v, wire::decode_cookie_response_plain);
}
BENCHMARK(BM_Codecs_CookieResponsePlain)->Name("BM_Codecs/cookie_response_plain");

void BM_Codecs_Handshake(benchmark::State& state) {
    SeededRng rng(7);
    const wire::Handshake v{random_array<wire::kCookieSize>(rng), crypto::Nonce::random(rng),
                            random_array<wire::kHandshakeCipherSize>(rng)};
    codec_loop<wire::Handshake, wire::kHandshakeSize>(state, v, wire::decode_handshake);
}
BENCHMARK(BM_Codecs_Handshake)->Name("BM_Codecs/handshake");

void BM_Codecs_HandshakePlain(benchmark::State& state) {
    SeededRng rng(8);
    const wire::HandshakePlain v{crypto::Nonce::random(rng), PublicKey{random_array<32>(rng)},
                                 random_array<wire::kSha512Size>(rng),
                                 random_array<wire::kCookieSize>(rng)};
    codec_loop<wire::HandshakePlain, wire::kHandshakePlainSize>(state, v,
                                                                wire::decode_handshake_plain);
}
BENCHMARK(BM_Codecs_HandshakePlain)->Name("BM_Codecs/handshake_plain");

void BM_Codecs_CookieContents(benchmark::State& state) {
    SeededRng rng(9);
    const wire::CookieContents v{rng.next_u64(), PublicKey{random_array<32>(rng)},
                                 PublicKey{random_array<32>(rng)}};
    codec_loop<wire::CookieContents, wire::kCookieContentsSize>(state, v,
                                                                wire::decode_cookie_contents);
}
BENCHMARK(BM_Codecs_CookieContents)->Name("BM_Codecs/cookie_contents");

// Data packet: header encode + view decode of a 1400-byte datagram.
void BM_Codecs_DataPacket(benchmark::State& state) {
    SeededRng rng(10);
    std::array<std::uint8_t, wire::kMaxPacketSize> pkt{};
    rng.fill(pkt);
    std::uint16_t low = 0;
    for (auto _ : state) {
        wire::encode_data_header(low++, std::span<std::uint8_t, wire::kDataHeaderSize>(
                                            pkt.data(), wire::kDataHeaderSize));
        auto v = wire::decode_data_packet(pkt);
        if (!v) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(v);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(pkt.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Codecs_DataPacket)->Name("BM_Codecs/data_packet");

// Data plaintext: encode (with c-toxcore padding) + decode, for a 1-byte and a 1373-byte message.
void BM_Codecs_DataPlain(benchmark::State& state) {
    SeededRng rng(11);
    std::vector<std::uint8_t> message(static_cast<std::size_t>(state.range(0)));
    rng.fill(message);
    message[0] = 0x40;
    std::array<std::uint8_t, wire::kMaxDataPlainSize> buf{};
    std::uint32_t number = 0;
    for (auto _ : state) {
        const std::size_t n = wire::encode_data_plain(7, number++, message, buf);
        auto v = wire::decode_data_plain(std::span(buf).first(n));
        if (!v) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(v);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(wire::data_plain_size(message.size())));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_Codecs_DataPlain)->Name("BM_Codecs/data_plain")->Arg(1)->Arg(1373);

}  // namespace
