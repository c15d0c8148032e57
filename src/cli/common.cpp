#include "cli/common.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <netdb.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <netcrypto/posix.hpp>
#include <netcrypto/tox_id.hpp>

namespace netcrypto::cli {

Outcome<SecretKey> load_secret_key(const std::string& path) {
    std::ifstream in(path);
    if (!in) return fail(fmt::format("cannot read key file {}: {}", path, std::strerror(errno)));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    auto key = SecretKey::from_hex(text);
    sodium_memzero(text.data(), text.size());
    if (!key) {
        return fail(fmt::format("key file {} is malformed: expected 64 hex digits", path));
    }
    return *key;
}

Outcome<void> write_secret_key(const std::string& path, const SecretKey& key) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(fmt::format("cannot create key file {}: {}", path, std::strerror(errno)));
    std::string hex = key.to_hex();
    hex.push_back('\n');
    const ssize_t n = ::write(fd, hex.data(), hex.size());
    sodium_memzero(hex.data(), hex.size());
    const bool ok = n == static_cast<ssize_t>(65) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return fail(fmt::format("cannot write key file {}: {}", path, std::strerror(errno)));
    return {};
}

Outcome<PublicKey> parse_public_key(std::string_view hex, std::string_view what) {
    auto pk = PublicKey::from_hex(hex);
    if (!pk) return fail(fmt::format("{} must be 64 hex digits, got \"{}\"", what, hex));
    return *pk;
}

Outcome<PublicKey> parse_peer_key(std::string_view text, std::string_view what) {
    auto pk = parse_peer(text);
    if (!pk) {
        return fail(fmt::format("{}: {}", what, to_string(pk.error())));
    }
    return *pk;
}

Outcome<Address> parse_address_or_host(std::string_view text, std::string_view what,
                                       std::uint16_t default_port) {
    if (auto a = Address::parse(text)) return *a;
    // No port: HOST alone ("127.0.0.1", "localhost", "[::1]", "::1").
    std::string with_port;
    if (text.starts_with('[') || text.find(':') == std::string_view::npos) {
        with_port = fmt::format("{}:{}", text, default_port);
    } else {
        with_port = fmt::format("[{}]:{}", text, default_port);
    }
    if (auto a = Address::parse(with_port)) return *a;
    return fail(
        fmt::format("{} \"{}\" is not HOST or HOST:PORT with a literal IP address", what, text));
}

Outcome<Address> parse_address(std::string_view text, std::string_view what) {
    auto a = Address::parse(text);
    if (!a) {
        return fail(
            fmt::format("{} \"{}\" is not HOST:PORT with a literal IP address", what, text));
    }
    return *a;
}

Outcome<RelaySpec> parse_relay(std::string_view text) {
    const auto bad = [text](std::string_view why) {
        return fail(fmt::format("--relay \"{}\": {}", text, why));
    };
    // From the right: KEY, then PORT; HOST is the rest (an IPv6 literal has colons of its own).
    const std::size_t key_colon = text.rfind(':');
    if (key_colon == std::string_view::npos || key_colon == 0) {
        return bad("expected HOST:PORT:KEY (KEY: the relay's 64-hex public key)");
    }
    const std::size_t port_colon = text.rfind(':', key_colon - 1);
    if (port_colon == std::string_view::npos) {
        return bad("expected HOST:PORT:KEY (a part is missing)");
    }
    std::string_view host = text.substr(0, port_colon);
    const std::string_view port_text = text.substr(port_colon + 1, key_colon - port_colon - 1);
    const std::string_view key_text = text.substr(key_colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) return bad("HOST is missing (expected HOST:PORT:KEY)");
    if (port_text.empty()) return bad("PORT is missing (expected HOST:PORT:KEY)");
    if (key_text.empty()) return bad("KEY is missing (expected HOST:PORT:KEY)");
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        return bad(fmt::format("bad port \"{}\" (expected 1-65535)", port_text));
    }
    if (key_text.size() != 64) {
        return bad(fmt::format("KEY must be 64 hex digits, got {} characters", key_text.size()));
    }
    const auto key = PublicKey::from_hex(key_text);
    if (!key) return bad("KEY is not hexadecimal");
    RelaySpec spec;
    spec.key = *key;
    const std::string host_s(host);
    spec.label = host.find(':') == std::string_view::npos ? fmt::format("{}:{}", host, port)
                                                          : fmt::format("[{}]:{}", host, port);
    if (auto literal = Address::parse(spec.label)) {
        spec.address = *literal;
        return spec;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host_s.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
        return bad(fmt::format("cannot resolve host \"{}\": {}", host, ::gai_strerror(rc)));
    }
    std::optional<Address> resolved;
    for (const addrinfo* ai = res; ai != nullptr && !resolved; ai = ai->ai_next) {
        resolved = posix::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    }
    ::freeaddrinfo(res);
    if (!resolved) return bad(fmt::format("host \"{}\" has no IPv4/IPv6 address", host));
    resolved->port = static_cast<std::uint16_t>(port);
    spec.address = *resolved;
    return spec;
}

void Reporter::ready(const PublicKey& pk, const std::string& tox_id, const PublicKey& dht,
                     const std::optional<Address>& address) const {
    const std::string where = address ? address->to_string() : std::string("relays only");
    if (json_) {
        nlohmann::json j{
            {"event", "ready"}, {"public_key", pk.to_hex()}, {"dht_public_key", dht.to_hex()}};
        if (address) j["address"] = address->to_string();
        if (!tox_id.empty()) j["tox_id"] = tox_id;
        std::cerr << j.dump() << std::endl;
    } else if (tox_id.empty()) {
        std::cerr << fmt::format("ready: {} public key {} DHT key {}\n", where, pk.to_hex(),
                                 dht.to_hex());
    } else {
        std::cerr << fmt::format("ready: {} Tox ID {} DHT key {}\n", where, tox_id, dht.to_hex());
    }
}

void Reporter::relay(const RelayStatusChanged& e, std::string_view label) const {
    const bool down = e.to == RelayState::kDisconnected;
    if (json_) {
        nlohmann::json j{{"event", "relay"},
                         {"relay", std::string(label)},
                         {"state", std::string(to_string(e.to))}};
        if (down) j["reason"] = std::string(to_string(e.reason));
        std::cerr << j.dump() << std::endl;
        return;
    }
    std::cerr << fmt::format("relay {}: {}{}", label, to_string(e.to),
                             down ? fmt::format(" ({})", to_string(e.reason)) : std::string())
              << std::endl;
}

void Reporter::route(const RouteChanged& e, std::string_view relay_label) const {
    const bool via_relay = e.route == RouteKind::kTcpRelay;
    if (json_) {
        nlohmann::json j{{"event", "route"},
                         {"kind", std::string(to_string(e.route))},
                         {"peer", e.peer_key.to_hex()}};
        if (via_relay) {
            j["relay"] = std::string(relay_label);
        } else if (e.route == RouteKind::kUdp) {
            j["address"] = e.address.to_string();
        }
        std::cerr << j.dump() << std::endl;
        return;
    }
    std::cerr << fmt::format("route: peer {}…: {}", e.peer_key.to_hex().substr(0, 16),
                             describe_route(e, relay_label))
              << std::endl;
}

std::string describe_route(const RouteChanged& e, std::string_view relay_label) {
    switch (e.route) {
        case RouteKind::kTcpRelay:
            return fmt::format("tcp relay {}", relay_label);
        case RouteKind::kUdp:
            return fmt::format("udp {}", e.address.to_string());
        case RouteKind::kNone:
            break;
    }
    return "none";
}

void Reporter::status(const StatusChanged& e, std::string_view label) const {
    if (json_) {
        nlohmann::json j{{"event", "status"},
                         {"peer", e.peer_key.to_hex()},
                         {"status", std::string(to_string(e.to))}};
        if (!label.empty()) j["side"] = std::string(label);
        if (e.to == Status::kClosed) {
            j["reason"] = std::string(to_string(e.reason));
            j["last_status"] = std::string(to_string(e.from));
        }
        std::cerr << j.dump() << std::endl;
        return;
    }
    std::string line = label.empty() ? std::string() : fmt::format("[{}] ", label);
    line += fmt::format("peer {}…: {}", e.peer_key.to_hex().substr(0, 16), to_string(e.to));
    if (e.to == Status::kClosed) {
        line += fmt::format(" ({} while {})", to_string(e.reason), to_string(e.from));
    }
    std::cerr << line << std::endl;
}

void Reporter::line(const nlohmann::json& j) const { std::cerr << j.dump() << std::endl; }

void Reporter::note(std::string_view name, std::string_view detail) const {
    if (json_) {
        nlohmann::json j{{"event", std::string(name)}, {"detail", std::string(detail)}};
        std::cerr << j.dump() << std::endl;
    } else {
        std::cerr << name << ": " << detail << std::endl;
    }
}

}  // namespace netcrypto::cli
