// Crypto primitives (wire.md §0, §5, §9): the tag-first Box vector, precomputed keys, seal/open
// refusals, 192-bit big-endian nonce arithmetic, SHA-512, key types, hex and the RNGs.
#include "core/crypto/crypto.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <sodium.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/hex.hpp"

namespace netcrypto::crypto {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(std::string_view h) {
    Bytes b(h.size() / 2);
    EXPECT_TRUE(core::hex_decode(h, b)) << "bad hex in test vector: " << h;
    return b;
}

template <std::size_t N>
std::array<std::uint8_t, N> array_from_hex(std::string_view h) {
    std::array<std::uint8_t, N> a{};
    EXPECT_TRUE(core::hex_decode(h, a)) << "bad hex in test vector: " << h;
    return a;
}

bool all_zero(std::span<const std::uint8_t> b) {
    return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

// --- wire.md §9.1: libsodium's crypto_box vector (as used by c-toxcore's crypto_test.c) ----------

constexpr std::string_view kAliceSk =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr std::string_view kAlicePk =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr std::string_view kBobSk =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr std::string_view kBobPk =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr std::string_view kBoxNonce = "69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37";
constexpr std::string_view kBoxPlain =
    "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c"
    "61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f"
    "21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705";
constexpr std::string_view kBoxCipher =
    "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1"
    "186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab9321645"
    "48e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b"
    "1f654cb45a74e355a5";
constexpr std::string_view kSharedAliceBob =
    "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389";

struct BoxVector {
    SecretKey alice_sk{array_from_hex<32>(kAliceSk)};
    PublicKey alice_pk{array_from_hex<32>(kAlicePk)};
    SecretKey bob_sk{array_from_hex<32>(kBobSk)};
    PublicKey bob_pk{array_from_hex<32>(kBobPk)};
    Nonce nonce{array_from_hex<24>(kBoxNonce)};
    Bytes plain = from_hex(kBoxPlain);
    Bytes cipher = from_hex(kBoxCipher);

    SharedKey alice_key() const {
        SharedKey k;
        EXPECT_TRUE(k.precompute(bob_pk, alice_sk)) << "precompute(bob pk, alice sk) failed";
        return k;
    }
};

TEST(Box, VectorSizes) {
    const BoxVector v;
    EXPECT_EQ(v.plain.size(), 131U);
    EXPECT_EQ(v.cipher.size(), 147U);
}

TEST(Box, PrecomputedKeyMatchesSpec) {
    const BoxVector v;
    const SharedKey k = v.alice_key();
    EXPECT_EQ(core::hex_encode(k.bytes()), kSharedAliceBob) << "DH(bob.pk, alice.sk)";

    SharedKey from_bob;
    ASSERT_TRUE(from_bob.precompute(v.alice_pk, v.bob_sk));
    EXPECT_EQ(core::hex_encode(from_bob.bytes()), kSharedAliceBob)
        << "DH(alice.pk, bob.sk) must equal DH(bob.pk, alice.sk)";
    EXPECT_TRUE(from_bob == k);
}

TEST(Box, SealProducesTagFirstVector) {
    const BoxVector v;
    Bytes out(v.plain.size() + kMacSize);
    ASSERT_TRUE(seal(v.alice_key(), v.nonce, v.plain, out)) << "seal refused the vector";
    EXPECT_EQ(core::hex_encode(out), kBoxCipher)
        << "ciphertext (16-byte tag first, then 131 bytes)";
}

TEST(Box, OpenRecoversVectorPlaintext) {
    const BoxVector v;
    SharedKey bob_key;
    ASSERT_TRUE(bob_key.precompute(v.alice_pk, v.bob_sk));
    Bytes out(v.cipher.size() - kMacSize);
    ASSERT_TRUE(open(bob_key, v.nonce, v.cipher, out)) << "open of the spec vector failed";
    EXPECT_EQ(out, v.plain) << "recovered plaintext";
}

TEST(Box, OpenFailsOnAnySingleFlippedByte) {
    const BoxVector v;
    const SharedKey k = v.alice_key();
    Bytes out(v.plain.size());
    for (std::size_t i = 0; i < v.cipher.size(); ++i) {
        for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
            Bytes bad = v.cipher;
            bad[i] ^= mask;
            std::fill(out.begin(), out.end(), 0xAA);
            EXPECT_FALSE(open(k, v.nonce, bad, out))
                << "ciphertext with byte " << i << " xor " << int{mask} << " was accepted";
            EXPECT_TRUE(all_zero(out)) << "a failed open must zero its output (byte " << i << ")";
        }
    }
    for (std::size_t i = 0; i < kNonceSize; ++i) {
        Nonce n = v.nonce;
        n.bytes[i] ^= 0x01;
        EXPECT_FALSE(open(k, n, v.cipher, out)) << "wrong nonce (byte " << i << ") accepted";
    }
}

TEST(Box, OpenFailsWithWrongKey) {
    const BoxVector v;
    SeededRng rng(11);
    const SharedKey other = SharedKey::random(rng);
    Bytes out(v.plain.size());
    EXPECT_FALSE(open(other, v.nonce, v.cipher, out)) << "a random key opened the vector";
    // A key differing in one bit only.
    auto bytes = array_from_hex<32>(kSharedAliceBob);
    bytes[31] ^= 0x01;
    EXPECT_FALSE(open(SharedKey(bytes), v.nonce, v.cipher, out)) << "a key one bit off opened it";
}

TEST(Box, SealRefusesEmptyPlaintextAndWrongOutputSizes) {
    const BoxVector v;
    const SharedKey k = v.alice_key();
    Bytes out(kMacSize);
    EXPECT_FALSE(seal(k, v.nonce, Bytes{}, out)) << "empty plaintext must be refused";
    Bytes small(v.plain.size() + kMacSize - 1);
    EXPECT_FALSE(seal(k, v.nonce, v.plain, small)) << "output one byte too small";
    Bytes large(v.plain.size() + kMacSize + 1);
    EXPECT_FALSE(seal(k, v.nonce, v.plain, large)) << "output one byte too large";
    Bytes exact(v.plain.size() + kMacSize);
    EXPECT_TRUE(seal(k, v.nonce, v.plain, exact)) << "output of exactly plain+16";
}

TEST(Box, OpenRefusesShortInputAndWrongOutputSizes) {
    const BoxVector v;
    const SharedKey k = v.alice_key();
    for (std::size_t n = 0; n <= kMacSize; ++n) {
        Bytes in(n, 0x42);
        Bytes out(1);
        Bytes none;
        EXPECT_FALSE(open(k, v.nonce, in, out)) << n << "-byte input (<= 16) must be refused";
        EXPECT_FALSE(open(k, v.nonce, in, none)) << n << "-byte input (<= 16) must be refused";
    }
    Bytes small(v.plain.size() - 1);
    EXPECT_FALSE(open(k, v.nonce, v.cipher, small)) << "output one byte too small";
    Bytes large(v.plain.size() + 1);
    EXPECT_FALSE(open(k, v.nonce, v.cipher, large)) << "output one byte too large";
}

TEST(Box, SealOpenRoundTripAllSizes) {
    SeededRng rng(12);
    const KeyPair a = KeyPair::generate(rng);
    const KeyPair b = KeyPair::generate(rng);
    SharedKey ka;
    SharedKey kb;
    ASSERT_TRUE(ka.precompute(b.public_key, a.secret_key));
    ASSERT_TRUE(kb.precompute(a.public_key, b.secret_key));
    ASSERT_TRUE(ka == kb) << "DH must be symmetric";
    for (std::size_t n = 1; n <= 1400; n += 37) {
        Bytes plain(n);
        rng.fill(plain);
        const Nonce nonce = Nonce::random(rng);
        Bytes cipher(n + kMacSize);
        ASSERT_TRUE(seal(ka, nonce, plain, cipher)) << n << " bytes";
        Bytes back(n);
        ASSERT_TRUE(open(kb, nonce, cipher, back)) << n << " bytes";
        EXPECT_EQ(back, plain) << n << " bytes";
    }
}

TEST(Box, PrecomputeRejectsLowOrderPoint) {
    SeededRng rng(13);
    const KeyPair me = KeyPair::generate(rng);
    SharedKey k = SharedKey::random(rng);
    const PublicKey zero{};  // the all-zero point has order dividing the cofactor
    EXPECT_FALSE(k.precompute(zero, me.secret_key)) << "a degenerate public key was accepted";
    EXPECT_TRUE(all_zero(k.bytes())) << "a failed precompute must leave the key zero";
}

// --- wire.md §9.2: nonce arithmetic
// ---------------------------------------------------------------

/// Independent reference: the nonce as three big-endian 64-bit limbs, add with carry, wrapping.
Nonce reference_add(const Nonce& n, std::uint64_t v) {
    std::array<std::uint64_t, 3> limb{};
    for (std::size_t i = 0; i < 24; ++i) limb[i / 8] = (limb[i / 8] << 8U) | n.bytes[i];
    limb[2] += v;
    if (limb[2] < v) {
        if (++limb[1] == 0) ++limb[0];
    }
    Nonce out;
    for (std::size_t i = 24; i-- > 0;) {
        out.bytes[i] = static_cast<std::uint8_t>(limb[i / 8] & 0xFFU);
        limb[i / 8] >>= 8U;
    }
    return out;
}

std::string nonce_hex(const Nonce& n) { return core::hex_encode(n.bytes); }

TEST(NonceArithmetic, IncrementOfZero) {
    Nonce n;
    n.increment();
    Nonce want;
    want.bytes[23] = 1;
    EXPECT_EQ(n, want) << "increment of zero: got " << nonce_hex(n);
}

TEST(NonceArithmetic, FiveHundredMoreIncrements) {
    Nonce n;
    n.increment();
    for (int i = 0; i < 0x1F4; ++i) n.increment();
    EXPECT_EQ(n.bytes[22], 0x01) << nonce_hex(n);
    EXPECT_EQ(n.bytes[23], 0xF5) << nonce_hex(n);
    EXPECT_TRUE(all_zero(std::span(n.bytes).first(22))) << nonce_hex(n);
    EXPECT_EQ(n.low16(), 0x01F5);
}

TEST(NonceArithmetic, AddNumberVectors) {
    Nonce n;
    n.add(0x1F5);
    EXPECT_EQ(n.bytes[22], 0x01) << nonce_hex(n);
    EXPECT_EQ(n.bytes[23], 0xF5) << nonce_hex(n);
    n.add(0x1F5);
    EXPECT_EQ(n.bytes[22], 0x03) << "second +0x1F5: " << nonce_hex(n);
    EXPECT_EQ(n.bytes[23], 0xEA) << "second +0x1F5: " << nonce_hex(n);
    EXPECT_TRUE(all_zero(std::span(n.bytes).first(22))) << nonce_hex(n);

    Nonce z;
    z.add(0x12345678);
    EXPECT_EQ(core::hex_encode(std::span(z.bytes).subspan(20, 4)), "12345678") << nonce_hex(z);

    // The spec's vector continues from 0x3EA: 0x3EA + 0x12345678 = 0x12345A62.
    n.add(0x12345678);
    EXPECT_EQ(core::hex_encode(std::span(n.bytes).subspan(20, 4)), "12345a62")
        << "bytes 20..23 after +0x1F5 +0x1F5 +0x12345678: " << nonce_hex(n);
    EXPECT_TRUE(all_zero(std::span(n.bytes).first(20))) << nonce_hex(n);
}

TEST(NonceArithmetic, CarryPropagatesThroughAllBytes) {
    for (std::size_t k = 1; k <= 24; ++k) {
        // The low k bytes are 0xFF: one increment carries into byte 24-k-1 (or wraps).
        Nonce n;
        for (std::size_t i = 24 - k; i < 24; ++i) n.bytes[i] = 0xFF;
        n.increment();
        Nonce want;
        if (k < 24) want.bytes[24 - k - 1] = 1;
        EXPECT_EQ(n, want) << "increment with " << k << " trailing 0xFF bytes: " << nonce_hex(n);
    }
    Nonce all;
    all.bytes.fill(0xFF);
    all.increment();
    EXPECT_EQ(all, Nonce{}) << "all-0xFF + 1 must wrap to zero: " << nonce_hex(all);

    Nonce a;
    a.bytes.fill(0xFF);
    a.add(1);
    EXPECT_EQ(a, Nonce{}) << "all-0xFF add(1) must wrap to zero: " << nonce_hex(a);

    Nonce b;
    b.bytes.fill(0xFF);
    b.add(0xFFFFFFFF);
    Nonce want_b;
    want_b.bytes[20] = 0xFF;
    want_b.bytes[21] = 0xFF;
    want_b.bytes[22] = 0xFF;
    want_b.bytes[23] = 0xFE;
    EXPECT_EQ(b, want_b) << "all-0xFF + 0xFFFFFFFF: " << nonce_hex(b);

    Nonce c;
    for (std::size_t i = 1; i < 24; ++i) c.bytes[i] = 0xFF;
    c.add(1);
    Nonce want_c;
    want_c.bytes[0] = 1;
    EXPECT_EQ(c, want_c) << "carry into the most significant byte: " << nonce_hex(c);
}

TEST(NonceArithmetic, AddEqualsRepeatedIncrement) {
    SeededRng rng(21);
    for (int sample = 0; sample < 200; ++sample) {
        Nonce start = Nonce::random(rng);
        // Half the samples sit just below a carry boundary of a random width.
        if (sample % 2 == 1) {
            const auto ff = static_cast<std::size_t>(rng.uniform(24)) + 1;
            for (std::size_t i = 24 - ff; i < 24; ++i) start.bytes[i] = 0xFF;
        }
        const auto count = static_cast<std::uint32_t>(rng.uniform(700));
        Nonce inc = start;
        for (std::uint32_t i = 0; i < count; ++i) inc.increment();
        Nonce added = start;
        added.add(count);
        ASSERT_EQ(added, inc) << "start " << nonce_hex(start) << " + " << count << ": add gave "
                              << nonce_hex(added) << ", increments gave " << nonce_hex(inc);
        ASSERT_EQ(added, reference_add(start, count)) << "reference disagrees at sample " << sample;
    }
}

TEST(NonceArithmetic, AddMatchesReferenceOnRandomSamples) {
    SeededRng rng(22);
    for (int sample = 0; sample < 2000; ++sample) {
        Nonce start = Nonce::random(rng);
        if (sample % 3 == 0) {
            const auto ff = static_cast<std::size_t>(rng.uniform(24)) + 1;
            for (std::size_t i = 24 - ff; i < 24; ++i) start.bytes[i] = 0xFF;
        }
        const auto v32 = static_cast<std::uint32_t>(rng.next_u64());
        Nonce a = start;
        a.add(v32);
        ASSERT_EQ(a, reference_add(start, v32))
            << nonce_hex(start) << " + " << v32 << " gave " << nonce_hex(a);

        const std::uint64_t v64 = rng.next_u64();
        Nonce b = start;
        b.add64(v64);
        ASSERT_EQ(b, reference_add(start, v64))
            << nonce_hex(start) << " + (64-bit) " << v64 << " gave " << nonce_hex(b);

        Nonce c = start;
        c.increment();
        ASSERT_EQ(c, reference_add(start, 1)) << "increment of " << nonce_hex(start);
    }
}

TEST(NonceArithmetic, Low16IsBigEndianOfLastTwoBytes) {
    Nonce n;
    n.bytes[21] = 0x99;
    n.bytes[22] = 0xAB;
    n.bytes[23] = 0xCD;
    EXPECT_EQ(n.low16(), 0xABCD);
}

TEST(NonceArithmetic, RandomNoncesComeFromTheRng) {
    SeededRng r1(5);
    SeededRng r2(5);
    EXPECT_EQ(Nonce::random(r1), Nonce::random(r2)) << "same seed, same nonce";
    EXPECT_NE(Nonce::random(r1), Nonce::random(r1)) << "successive nonces differ";
}

// --- SHA-512, comparison, wiping ---------------------------------------------------------------

TEST(Sha512, KnownVectors) {
    const std::string_view abc = "abc";
    const auto d = sha512(std::span(reinterpret_cast<const std::uint8_t*>(abc.data()), abc.size()));
    EXPECT_EQ(core::hex_encode(d),
              "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
              "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        << "SHA-512(\"abc\")";
    EXPECT_EQ(core::hex_encode(sha512({})),
              "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
              "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
        << "SHA-512 of the empty string";
}

TEST(EqualCt, Semantics) {
    const Bytes a{1, 2, 3, 4};
    Bytes b = a;
    EXPECT_TRUE(equal_ct(a, b));
    b[3] ^= 1;
    EXPECT_FALSE(equal_ct(a, b)) << "last byte differs";
    b = a;
    b[0] ^= 0x80;
    EXPECT_FALSE(equal_ct(a, b)) << "first byte differs";
    EXPECT_FALSE(equal_ct(a, std::span(a).first(3))) << "different lengths";
    EXPECT_TRUE(equal_ct(Bytes{}, Bytes{})) << "two empty ranges are equal";
}

TEST(Wipe, ZeroesTheRange) {
    Bytes b(40, 0xAB);
    wipe(std::span(b).subspan(4, 32));
    EXPECT_TRUE(all_zero(std::span(b).subspan(4, 32)));
    EXPECT_EQ(b[3], 0xAB) << "wipe went before its range";
    EXPECT_EQ(b[36], 0xAB) << "wipe went past its range";
    wipe({});  // must not crash
}

TEST(Sodium, IsReady) { EXPECT_TRUE(ready()) << "sodium_init failed"; }

// --- key types ---------------------------------------------------------------------------------

std::array<std::uint8_t, 32> pattern32(std::uint8_t seed) {
    std::array<std::uint8_t, 32> a{};
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint8_t>(seed + i * 3);
    return a;
}

TEST(SecretKey, EqualityIsByValue) {
    const SecretKey a(pattern32(1));
    const SecretKey b(pattern32(1));
    EXPECT_TRUE(a == b) << "equal bytes must compare equal";
    for (std::size_t i : {0U, 15U, 31U}) {
        auto bytes = pattern32(1);
        bytes[i] ^= 0x01;
        EXPECT_FALSE(a == SecretKey(bytes)) << "keys differing in byte " << i << " compared equal";
    }
}

TEST(SecretKey, CopyKeepsSourceMoveZeroesIt) {
    SecretKey a(pattern32(7));
    const SecretKey copy(a);
    EXPECT_TRUE(copy == a) << "copy";
    EXPECT_FALSE(all_zero(a.bytes())) << "copying must not wipe the source";

    SecretKey moved(std::move(a));
    EXPECT_TRUE(moved == copy) << "move-constructed key has the value";
    // NOLINTNEXTLINE(bugprone-use-after-move): inspecting the moved-from state is the point.
    EXPECT_TRUE(all_zero(a.bytes())) << "a moved-from SecretKey must be zeroed";

    SecretKey target(pattern32(9));
    target = std::move(moved);
    EXPECT_TRUE(target == copy) << "move-assigned key has the value";
    // NOLINTNEXTLINE(bugprone-use-after-move)
    EXPECT_TRUE(all_zero(moved.bytes())) << "a move-assigned-from SecretKey must be zeroed";

    SecretKey assigned;
    assigned = copy;
    EXPECT_TRUE(assigned == copy) << "copy assignment";
}

TEST(SharedKey, EqualityIsByValue) {
    const SharedKey a(pattern32(3));
    const SharedKey b(pattern32(3));
    EXPECT_TRUE(a == b);
    for (std::size_t i : {0U, 16U, 31U}) {
        auto bytes = pattern32(3);
        bytes[i] ^= 0x40;
        EXPECT_FALSE(a == SharedKey(bytes)) << "keys differing in byte " << i << " compared equal";
    }
    EXPECT_TRUE(all_zero(SharedKey().bytes())) << "a default SharedKey is zero";
}

TEST(SharedKey, CopyKeepsSourceMoveZeroesIt) {
    SharedKey a(pattern32(5));
    const SharedKey copy(a);
    EXPECT_TRUE(copy == a);
    EXPECT_FALSE(all_zero(a.bytes()));
    SharedKey moved(std::move(a));
    EXPECT_TRUE(moved == copy);
    // NOLINTNEXTLINE(bugprone-use-after-move)
    EXPECT_TRUE(all_zero(a.bytes())) << "a moved-from SharedKey must be zeroed";
    SharedKey target(pattern32(6));
    target = std::move(moved);
    EXPECT_TRUE(target == copy);
    // NOLINTNEXTLINE(bugprone-use-after-move)
    EXPECT_TRUE(all_zero(moved.bytes())) << "a move-assigned-from SharedKey must be zeroed";
}

TEST(SharedKey, RandomKeysFollowTheRng) {
    SeededRng r1(77);
    SeededRng r2(77);
    EXPECT_TRUE(SharedKey::random(r1) == SharedKey::random(r2)) << "same seed, same key";
    EXPECT_FALSE(SharedKey::random(r1) == SharedKey::random(r1)) << "successive keys differ";
}

TEST(KeyPair, FromSecretMatchesScalarmultBase) {
    SeededRng rng(31);
    for (int i = 0; i < 32; ++i) {
        std::array<std::uint8_t, 32> sk{};
        rng.fill(sk);
        const KeyPair kp = KeyPair::from_secret(SecretKey(sk));
        std::array<std::uint8_t, 32> want{};
        ASSERT_EQ(crypto_scalarmult_base(want.data(), sk.data()), 0);
        EXPECT_EQ(kp.public_key.bytes, want) << "public key of secret " << core::hex_encode(sk);
        EXPECT_TRUE(kp.secret_key == SecretKey(sk)) << "secret key kept";
    }
}

TEST(KeyPair, KnownVectorKeys) {
    const auto alice = KeyPair::from_secret(SecretKey(array_from_hex<32>(kAliceSk)));
    EXPECT_EQ(alice.public_key.to_hex(), kAlicePk) << "alice public key";
    const auto bob = KeyPair::from_secret(SecretKey(array_from_hex<32>(kBobSk)));
    EXPECT_EQ(bob.public_key.to_hex(), kBobPk) << "bob public key";
}

TEST(KeyPair, GenerateIsDeterministicUnderASeededRng) {
    SeededRng r1(41);
    SeededRng r2(41);
    const KeyPair a = KeyPair::generate(r1);
    const KeyPair b = KeyPair::generate(r2);
    EXPECT_EQ(a.public_key, b.public_key);
    EXPECT_TRUE(a.secret_key == b.secret_key);
    const KeyPair c = KeyPair::generate(r1);
    EXPECT_NE(a.public_key, c.public_key) << "successive key pairs must differ";
    EXPECT_EQ(KeyPair::from_secret(a.secret_key).public_key, a.public_key)
        << "generate() must pair the secret with its public key";
}

// --- hex ---------------------------------------------------------------------------------------

TEST(Hex, PublicKeyRoundTrip) {
    SeededRng rng(51);
    PublicKey k;
    rng.fill(k.bytes);
    const std::string h = k.to_hex();
    EXPECT_EQ(h.size(), 64U);
    EXPECT_TRUE(std::none_of(h.begin(), h.end(), [](char c) { return c >= 'A' && c <= 'F'; }))
        << "to_hex must be lower case: " << h;
    const auto back = PublicKey::from_hex(h);
    ASSERT_TRUE(back.has_value()) << h;
    EXPECT_EQ(*back, k);
    std::string upper = h;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](char c) { return (c >= 'a' && c <= 'f') ? static_cast<char>(c - 32) : c; });
    const auto from_upper = PublicKey::from_hex(upper);
    ASSERT_TRUE(from_upper.has_value()) << "upper case must be accepted: " << upper;
    EXPECT_EQ(*from_upper, k);
}

TEST(Hex, SecretKeyRoundTrip) {
    const SecretKey k(pattern32(0xF0));
    const auto back = SecretKey::from_hex(k.to_hex());
    ASSERT_TRUE(back.has_value());
    EXPECT_TRUE(*back == k);
}

TEST(Hex, RejectsBadInput) {
    const std::string good(64, 'a');
    ASSERT_TRUE(PublicKey::from_hex(good).has_value());
    EXPECT_FALSE(PublicKey::from_hex(good.substr(0, 63))) << "63 digits";
    EXPECT_FALSE(PublicKey::from_hex(good + "a")) << "65 digits";
    EXPECT_FALSE(PublicKey::from_hex(good.substr(0, 62))) << "62 digits (31 bytes)";
    EXPECT_FALSE(PublicKey::from_hex(good + "aa")) << "66 digits (33 bytes)";
    EXPECT_FALSE(PublicKey::from_hex("")) << "empty";
    for (char bad : {'g', 'G', 'z', ' ', '-', 'x', '\0'}) {
        for (std::size_t pos : {0U, 31U, 63U}) {
            std::string s = good;
            s[pos] = bad;
            EXPECT_FALSE(PublicKey::from_hex(s))
                << "character " << int{bad} << " at position " << pos << " accepted";
            EXPECT_FALSE(SecretKey::from_hex(s))
                << "character " << int{bad} << " at position " << pos << " accepted (secret)";
        }
    }
    EXPECT_FALSE(SecretKey::from_hex(good.substr(0, 63))) << "63 digits (secret)";
}

TEST(Hex, DecodeLeavesOutputUntouchedOnFailure) {
    std::array<std::uint8_t, 2> out{0x11, 0x22};
    EXPECT_FALSE(core::hex_decode("abzz", out));
    EXPECT_EQ(out, (std::array<std::uint8_t, 2>{0x11, 0x22}));
    EXPECT_FALSE(core::hex_decode("abc", out));
    EXPECT_EQ(out, (std::array<std::uint8_t, 2>{0x11, 0x22}));
    EXPECT_TRUE(core::hex_decode("0aFf", out));
    EXPECT_EQ(out, (std::array<std::uint8_t, 2>{0x0A, 0xFF}));
    EXPECT_EQ(core::hex_encode(out), "0aff");
    EXPECT_EQ(core::hex_encode({}), "");
}

// --- RNGs --------------------------------------------------------------------------------------

TEST(SeededRng, SameSeedSameBytes) {
    SeededRng a(1234);
    SeededRng b(1234);
    for (std::size_t n : {1U, 7U, 32U, 1000U}) {
        Bytes x(n);
        Bytes y(n);
        a.fill(x);
        b.fill(y);
        EXPECT_EQ(x, y) << "fill of " << n << " bytes differs for equal seeds";
    }
    EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(SeededRng, DifferentSeedsAndSuccessiveFillsDiffer) {
    SeededRng a(1);
    SeededRng b(2);
    Bytes x(32);
    Bytes y(32);
    a.fill(x);
    b.fill(y);
    EXPECT_NE(x, y) << "seeds 1 and 2 gave the same bytes";
    Bytes x2(32);
    a.fill(x2);
    EXPECT_NE(x, x2) << "two successive fills gave the same bytes";
    SeededRng zero(0);
    Bytes z(32);
    zero.fill(z);
    EXPECT_FALSE(all_zero(z)) << "seed 0 must not give zero bytes";
    Bytes empty;
    zero.fill(empty);  // must not crash
}

TEST(Rng, UniformStaysInBounds) {
    SeededRng rng(99);
    EXPECT_EQ(rng.uniform(0), 0U) << "uniform(0)";
    EXPECT_EQ(rng.uniform(1), 0U) << "uniform(1)";
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 2000; ++i) {
        const auto v = rng.uniform(10);
        ASSERT_LT(v, 10U) << "uniform(10) out of range";
        seen.insert(v);
    }
    EXPECT_EQ(seen.size(), 10U) << "uniform(10) never produced some values in 2000 draws";
    const std::array<std::uint64_t, 6> bounds{
        2, 3, 255, 65536, (std::uint64_t{1} << 63U) + 1, UINT64_MAX};
    for (const std::uint64_t bound : bounds) {
        for (int i = 0; i < 200; ++i) {
            ASSERT_LT(rng.uniform(bound), bound) << "uniform(" << bound << ")";
        }
    }
}

TEST(Rng, SodiumRngProducesBytes) {
    SodiumRng rng;
    Bytes a(32);
    Bytes b(32);
    rng.fill(a);
    rng.fill(b);
    EXPECT_NE(a, b) << "two 32-byte draws from the OS RNG were equal";
    EXPECT_LT(rng.uniform(3), 3U);
}

}  // namespace
}  // namespace netcrypto::crypto
