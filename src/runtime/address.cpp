#include <arpa/inet.h>
#include <charconv>
#include <cstring>

#include <netcrypto/address.hpp>

namespace netcrypto {

Address Address::ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                      std::uint16_t port) {
    Address addr;
    addr.family = Family::kIPv4;
    addr.ip[0] = a;
    addr.ip[1] = b;
    addr.ip[2] = c;
    addr.ip[3] = d;
    addr.port = port;
    return addr;
}

std::optional<Address> Address::parse(std::string_view text) {
    std::string host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (host == "localhost") host = "127.0.0.1";
    }
    unsigned port = 0;
    const auto* end = port_text.data() + port_text.size();
    auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
    if (port_text.empty() || ec != std::errc{} || ptr != end || port > 65535) return std::nullopt;

    Address addr;
    addr.port = static_cast<std::uint16_t>(port);
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        addr.family = Family::kIPv4;
        std::memcpy(addr.ip.data(), &v4, 4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        addr.family = Family::kIPv6;
        std::memcpy(addr.ip.data(), &v6, 16);
    } else {
        return std::nullopt;
    }
    return addr;
}

std::string Address::to_string() const {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    const bool v4 = family == Family::kIPv4;
    inet_ntop(v4 ? AF_INET : AF_INET6, ip.data(), buf.data(), buf.size());
    std::string out;
    out.reserve(64);
    if (!v4) out.push_back('[');
    out.append(buf.data());
    if (!v4) out.push_back(']');
    out.push_back(':');
    out.append(std::to_string(port));
    return out;
}

bool Address::is_loopback() const {
    if (family == Family::kIPv4) return ip[0] == 127;
    static constexpr std::array<std::uint8_t, 16> kLoop6{0, 0, 0, 0, 0, 0, 0, 0,
                                                         0, 0, 0, 0, 0, 0, 0, 1};
    if (ip == kLoop6) return true;
    // IPv4-mapped ::ffff:127.x.y.z
    for (std::size_t i = 0; i < 10; ++i) {
        if (ip[i] != 0) return false;
    }
    return ip[10] == 0xFF && ip[11] == 0xFF && ip[12] == 127;
}

}  // namespace netcrypto
