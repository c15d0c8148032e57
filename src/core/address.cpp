// Address text forms, in portable C++ (no socket headers): the core must build on any platform.
//
// Accepted host forms (literal addresses only, never DNS):
//   IPv4  "a.b.c.d": exactly four decimal octets 0-255, no leading zeros ("01" is refused, as
//         POSIX inet_pton refuses it), no other shorthand ("1.2.3", "0x7f.1" are refused).
//   IPv6  RFC 4291 §2.2: eight groups of 1-4 hex digits, one "::" for a run of zero groups, and
//         optionally a dotted IPv4 address in place of the last two groups. No zone ("%eth0").
// Output follows RFC 5952: lower-case hex, no leading zeros, the longest run (first on a tie) of
// two or more zero groups written as "::", and ::ffff:a.b.c.d for IPv4-mapped addresses.
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <netcrypto/address.hpp>

namespace netcrypto {
namespace {

using Ip4 = std::array<std::uint8_t, 4>;
using Ip6 = std::array<std::uint8_t, 16>;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<Ip4> parse_ipv4(std::string_view s) {
    Ip4 out{};
    std::size_t pos = 0;
    for (std::size_t part = 0; part < out.size(); ++part) {
        if (part > 0) {
            if (pos >= s.size() || s[pos] != '.') return std::nullopt;
            ++pos;
        }
        const std::size_t start = pos;
        unsigned value = 0;
        while (pos < s.size() && is_digit(s[pos]) && pos - start < 3) {
            value = value * 10 + static_cast<unsigned>(s[pos] - '0');
            ++pos;
        }
        const std::size_t digits = pos - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) return std::nullopt;
        out[part] = static_cast<std::uint8_t>(value);
    }
    if (pos != s.size()) return std::nullopt;
    return out;
}

std::optional<Ip6> parse_ipv6(std::string_view s) {
    // Groups before and after the "::" (if any), as 16-bit values.
    std::array<std::uint16_t, 8> head{};
    std::array<std::uint16_t, 8> tail{};
    std::size_t n_head = 0;
    std::size_t n_tail = 0;
    bool compressed = false;
    std::size_t pos = 0;

    if (s.substr(0, 2) == "::") {
        compressed = true;
        pos = 2;
        if (pos == s.size()) return Ip6{};  // "::"
    } else if (s.empty() || s.front() == ':') {
        return std::nullopt;
    }

    while (true) {
        const std::size_t groups = n_head + n_tail;
        // The rest may be an embedded IPv4 address (it takes two groups).
        const std::size_t next_colon = s.find(':', pos);
        const std::string_view rest = s.substr(pos);
        if (next_colon == std::string_view::npos && rest.find('.') != std::string_view::npos) {
            if (groups + 2 > 8) return std::nullopt;
            const auto v4 = parse_ipv4(rest);
            if (!v4) return std::nullopt;
            auto& dst = compressed ? tail : head;
            auto& n = compressed ? n_tail : n_head;
            dst[n++] = static_cast<std::uint16_t>(((*v4)[0] << 8U) | (*v4)[1]);
            dst[n++] = static_cast<std::uint16_t>(((*v4)[2] << 8U) | (*v4)[3]);
            break;  // the embedded IPv4 address ends the text
        }
        // One group of 1-4 hex digits.
        if (groups >= 8) return std::nullopt;
        std::size_t digits = 0;
        unsigned value = 0;
        while (pos < s.size() && digits < 5) {
            const int h = hex_value(s[pos]);
            if (h < 0) break;
            value = (value << 4U) | static_cast<unsigned>(h);
            ++digits;
            ++pos;
        }
        if (digits == 0 || digits > 4) return std::nullopt;
        (compressed ? tail[n_tail++] : head[n_head++]) = static_cast<std::uint16_t>(value);

        if (pos == s.size()) break;
        if (s[pos] != ':') return std::nullopt;
        ++pos;
        if (pos < s.size() && s[pos] == ':') {
            if (compressed) return std::nullopt;  // a second "::"
            compressed = true;
            ++pos;
            if (pos == s.size()) break;  // trailing "::"
        } else if (pos == s.size()) {
            return std::nullopt;  // trailing single ':'
        }
    }

    const std::size_t groups = n_head + n_tail;
    // "::" stands for at least one zero group; without it there must be exactly eight.
    if (compressed ? groups > 7 : groups != 8) return std::nullopt;
    std::array<std::uint16_t, 8> words{};
    for (std::size_t i = 0; i < n_head; ++i) words[i] = head[i];
    for (std::size_t i = 0; i < n_tail; ++i) words[8 - n_tail + i] = tail[i];
    Ip6 out{};
    for (std::size_t i = 0; i < words.size(); ++i) {
        out[2 * i] = static_cast<std::uint8_t>(words[i] >> 8U);
        out[2 * i + 1] = static_cast<std::uint8_t>(words[i] & 0xFFU);
    }
    return out;
}

void append_decimal(std::string& out, unsigned value) {
    std::array<char, 8> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    (void)ec;  // 8 characters always hold a 16-bit value
    out.append(buf.data(), end);
}

void append_ipv4(std::string& out, const std::uint8_t* b) {
    for (std::size_t i = 0; i < 4; ++i) {
        if (i > 0) out.push_back('.');
        append_decimal(out, b[i]);
    }
}

void append_ipv6(std::string& out, const Ip6& ip) {
    std::array<std::uint16_t, 8> words{};
    for (std::size_t i = 0; i < words.size(); ++i) {
        words[i] = static_cast<std::uint16_t>((ip[2 * i] << 8U) | ip[2 * i + 1]);
    }
    // IPv4-mapped (::ffff:0:0/96): mixed notation (RFC 5952 §5).
    const bool mapped = words[0] == 0 && words[1] == 0 && words[2] == 0 && words[3] == 0 &&
                        words[4] == 0 && words[5] == 0xFFFF;
    if (mapped) {
        out.append("::ffff:");
        append_ipv4(out, ip.data() + 12);
        return;
    }
    // The longest run of zero groups (the first of equal runs); a single zero is not shortened.
    std::size_t best_start = words.size();
    std::size_t best_len = 0;
    for (std::size_t i = 0; i < words.size();) {
        if (words[i] != 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < words.size() && words[j] == 0) ++j;
        if (j - i > best_len) {
            best_start = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best_start = words.size();

    static constexpr std::string_view kHex = "0123456789abcdef";
    for (std::size_t i = 0; i < words.size();) {
        if (i == best_start) {
            out.append("::");
            i += best_len;
            continue;
        }
        if (i > 0 && i != best_start + best_len) out.push_back(':');
        const unsigned w = words[i];
        bool started = false;
        for (unsigned shift = 12;; shift -= 4) {
            const unsigned nibble = (w >> shift) & 0xFU;
            if (nibble != 0 || started || shift == 0) {
                out.push_back(kHex[nibble]);
                started = true;
            }
            if (shift == 0) break;
        }
        ++i;
    }
}

}  // namespace

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
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host == "localhost") host = "127.0.0.1";
    }
    unsigned port = 0;
    const auto* end = port_text.data() + port_text.size();
    auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
    if (port_text.empty() || ec != std::errc{} || ptr != end || port > 65535) return std::nullopt;

    Address addr;
    addr.port = static_cast<std::uint16_t>(port);
    if (const auto v4 = parse_ipv4(host)) {
        addr.family = Family::kIPv4;
        for (std::size_t i = 0; i < v4->size(); ++i) addr.ip[i] = (*v4)[i];
    } else if (const auto v6 = parse_ipv6(host)) {
        addr.family = Family::kIPv6;
        addr.ip = *v6;
    } else {
        return std::nullopt;
    }
    return addr;
}

std::string Address::to_string() const {
    std::string out;
    out.reserve(64);
    if (family == Family::kIPv4) {
        append_ipv4(out, ip.data());
    } else {
        out.push_back('[');
        append_ipv6(out, ip);
        out.push_back(']');
    }
    out.push_back(':');
    append_decimal(out, port);
    return out;
}

namespace {
bool ipv4_is_lan(std::uint8_t a, std::uint8_t b) {
    return a == 127 || a == 10 || (a == 172 && (b & 0xF0U) == 16) || (a == 192 && b == 168) ||
           (a == 169 && b == 254) || (a == 100 && (b & 0xC0U) == 64);
}
}  // namespace

bool Address::is_lan() const {
    if (family == Family::kIPv4) return ipv4_is_lan(ip[0], ip[1]);
    if (is_loopback()) return true;
    if ((ip[0] & 0xFEU) == 0xFC) return true;                   // fc00::/7
    if (ip[0] == 0xFE && (ip[1] & 0xC0U) == 0x80) return true;  // fe80::/10
    for (std::size_t i = 0; i < 10; ++i) {
        if (ip[i] != 0) return false;
    }
    return ip[10] == 0xFF && ip[11] == 0xFF && ipv4_is_lan(ip[12], ip[13]);
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
