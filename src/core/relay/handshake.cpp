// Relay handshake (handshake.hpp): the client's 128-byte request and the 96-byte response.
#include "core/relay/handshake.hpp"

#include <algorithm>
#include <array>

#include "core/wire/bytes.hpp"

namespace netcrypto::relay {

std::string_view to_string(HandshakeError e) {
    switch (e) {
        case HandshakeError::kUnusableKey:
            return "unusable-key";
        case HandshakeError::kBadBox:
            return "bad-box";
        case HandshakeError::kSealFailed:
            return "seal-failed";
    }
    return "unknown";
}

tl::expected<ClientHandshake, HandshakeError> create_client_handshake(
    const KeyPair& self, const PublicKey& relay_pk, Rng& rng,
    std::span<std::uint8_t, kHandshakeRequestSize> out) {
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    ClientHandshake hs;
    if (!hs.static_key.precompute(relay_pk, self.secret_key)) {
        return tl::unexpected(HandshakeError::kUnusableKey);
    }
    KeyPair temp = KeyPair::generate(rng);
    hs.temp_secret = std::move(temp.secret_key);
    hs.base_nonce = Nonce::random(rng);
    const Nonce box_nonce = Nonce::random(rng);

    std::array<std::uint8_t, kHandshakePlainSize> plain{};
    std::copy(temp.public_key.bytes.begin(), temp.public_key.bytes.end(), plain.begin());
    std::copy(hs.base_nonce.bytes.begin(), hs.base_nonce.bytes.end(),
              plain.begin() + kPublicKeySize);

    wire::ByteWriter w(out);
    w.write(self.public_key.bytes);
    w.write(box_nonce.bytes);
    const auto sealed = w.reserve(kMacSize + kHandshakePlainSize);
    if (!w.ok() || !crypto::seal(hs.static_key, box_nonce, plain, sealed)) {
        std::fill(out.begin(), out.end(), std::uint8_t{0});
        return tl::unexpected(HandshakeError::kSealFailed);
    }
    return hs;
}

tl::expected<SessionKeys, HandshakeError> open_relay_response(
    ClientHandshake& hs, std::span<const std::uint8_t, kHandshakeResponseSize> in) {
    // Whatever happens, the temporary secret does not outlive this call.
    const SecretKey temp_secret = std::move(hs.temp_secret);
    hs.temp_secret = SecretKey{};

    Nonce box_nonce;
    std::copy_n(in.begin(), kNonceSize, box_nonce.bytes.begin());
    std::array<std::uint8_t, kHandshakePlainSize> plain{};
    if (!crypto::open(hs.static_key, box_nonce, in.subspan(kNonceSize), plain)) {
        return tl::unexpected(HandshakeError::kBadBox);
    }
    PublicKey relay_temp_pk;
    std::copy_n(plain.begin(), kPublicKeySize, relay_temp_pk.bytes.begin());
    SessionKeys keys;
    std::copy_n(plain.begin() + kPublicKeySize, kNonceSize, keys.recv_nonce.bytes.begin());
    keys.send_nonce = hs.base_nonce;
    if (!keys.key.precompute(relay_temp_pk, temp_secret)) {
        return tl::unexpected(HandshakeError::kUnusableKey);
    }
    return keys;
}

}  // namespace netcrypto::relay
