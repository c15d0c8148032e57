#include "cli/common.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

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

void Reporter::ready(const PublicKey& pk, const PublicKey& dht, const Address& address) const {
    if (json_) {
        nlohmann::json j{{"event", "ready"},
                         {"public_key", pk.to_hex()},
                         {"dht_public_key", dht.to_hex()},
                         {"address", address.to_string()}};
        std::cerr << j.dump() << std::endl;
    } else {
        std::cerr << fmt::format("ready: {} public key {} DHT key {}\n", address.to_string(),
                                 pk.to_hex(), dht.to_hex());
    }
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
