// A UDP peer address (IPv4 or IPv6 plus port) as the core sees it: plain data, no sockets.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <netcrypto/export.hpp>

namespace netcrypto {

/// An IPv4 or IPv6 address with a UDP port. IPv4 addresses are stored in the first four bytes.
struct NETCRYPTO_EXPORT Address {
    enum class Family : std::uint8_t { kIPv4 = 4, kIPv6 = 6 };

    Family family = Family::kIPv4;
    std::array<std::uint8_t, 16> ip{};
    std::uint16_t port = 0;

    friend auto operator<=>(const Address&, const Address&) = default;

    /// An IPv4 address from its four octets (a.b.c.d) and a port.
    static Address ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                        std::uint16_t port);
    /// Parses "1.2.3.4:port", "[::1]:port" or "host:port" with a literal address only (no DNS);
    /// nullopt when malformed or the port is not 0-65535.
    static std::optional<Address> parse(std::string_view text);
    /// "1.2.3.4:port" or "[v6]:port".
    [[nodiscard]] std::string to_string() const;
    /// True for 127.0.0.0/8 and ::1 (and IPv4-mapped 127/8).
    [[nodiscard]] bool is_loopback() const;
    /// True for loopback and private/link-local ranges, where Tox peers answer LAN discovery:
    /// 10/8, 172.16/12, 192.168/16, 169.254/16, 100.64/10, fc00::/7, fe80::/10 (and
    /// IPv4-mapped forms).
    [[nodiscard]] bool is_lan() const;
};

}  // namespace netcrypto

template <>
struct std::hash<netcrypto::Address> {
    std::size_t operator()(const netcrypto::Address& a) const noexcept {
        // FNV-1a over the significant bytes; addresses are attacker-chosen, so the endpoint
        // salts this with a per-endpoint secret (see AddressHasher in src/core).
        std::uint64_t h = 1469598103934665603ULL;
        auto mix = [&h](std::uint8_t b) {
            h ^= b;
            h *= 1099511628211ULL;
        };
        mix(static_cast<std::uint8_t>(a.family));
        for (auto b : a.ip) mix(b);
        mix(static_cast<std::uint8_t>(a.port >> 8U));
        mix(static_cast<std::uint8_t>(a.port & 0xFFU));
        return static_cast<std::size_t>(h);
    }
};
