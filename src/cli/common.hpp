// Shared pieces of the netcrypto command-line tool: key files, event reporting (human or
// JSON lines on stderr), and the error type every subcommand returns.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>
#include <tl/expected.hpp>

#include <netcrypto/address.hpp>
#include <netcrypto/endpoint.hpp>
#include <netcrypto/keys.hpp>

namespace netcrypto::cli {

/// A failure: one line naming the cause, printed by main() before exiting non-zero.
struct Failure {
    std::string message;
    int exit_code = 1;
};

template <class T>
using Outcome = tl::expected<T, Failure>;

inline tl::unexpected<Failure> fail(std::string message, int code = 1) {
    return tl::unexpected(Failure{std::move(message), code});
}

/// Reads a secret key file (64 hex digits, optional trailing newline).
Outcome<SecretKey> load_secret_key(const std::string& path);
/// Writes a new secret key file with mode 0600; refuses to overwrite an existing file.
Outcome<void> write_secret_key(const std::string& path, const SecretKey& key);
/// Parses a 64-hex-digit public key given on the command line (`what` names the option).
Outcome<PublicKey> parse_public_key(std::string_view hex, std::string_view what);
/// Parses a peer's long-term key: a 76-hex Tox ID (checksum checked) or a 64-hex key.
Outcome<PublicKey> parse_peer_key(std::string_view text, std::string_view what);
/// Parses HOST:PORT, or HOST alone with `default_port` (literal IPv4/IPv6 address or localhost).
Outcome<Address> parse_address_or_host(std::string_view text, std::string_view what,
                                       std::uint16_t default_port);
/// Parses HOST:PORT with a literal IPv4/IPv6 address (or localhost).
Outcome<Address> parse_address(std::string_view text, std::string_view what);

/// A relay named on the command line (--relay HOST:PORT:KEY).
struct RelaySpec {
    std::string label;  ///< "HOST:PORT" as the user wrote it, for events
    Address address;    ///< HOST resolved (a literal, or the first getaddrinfo answer)
    PublicKey key;      ///< the relay's public key
};
/// Parses HOST:PORT:KEY: HOST an IPv4/IPv6 literal (brackets optional) or a name resolved with
/// getaddrinfo, PORT 1-65535, KEY the relay's 64-hex public key. One line per mistake.
Outcome<RelaySpec> parse_relay(std::string_view text);

/// "tcp relay HOST:PORT" or "udp ADDRESS", for human-readable lines.
std::string describe_route(const RouteChanged& e, std::string_view relay_label);

/// Prints events on stderr, as text or as one JSON object per line.
class Reporter {
  public:
    explicit Reporter(bool json) : json_(json) {}
    [[nodiscard]] bool json() const { return json_; }

    /// `address`: the bound UDP address (nullopt with --no-udp: relays only).
    void ready(const PublicKey& pk, const std::string& tox_id, const PublicKey& dht,
               const std::optional<Address>& address) const;
    /// RelayStatusChanged: {"event":"relay","relay":label,"state":...,"reason":...}.
    void relay(const RelayStatusChanged& e, std::string_view label) const;
    /// RouteChanged: {"event":"route","kind":...,"relay"|"address":...,"peer":...};
    /// `relay_label` names the relay with kTcpRelay.
    void route(const RouteChanged& e, std::string_view relay_label) const;
    /// A status event; `label` distinguishes the two sides of the demo ("" elsewhere).
    void status(const StatusChanged& e, std::string_view label = "") const;
    /// Any other notice: {"event":name, "detail": text}.
    void note(std::string_view name, std::string_view detail) const;
    /// One JSON object as one line (JSON mode).
    void line(const nlohmann::json& j) const;

  private:
    bool json_;
};

}  // namespace netcrypto::cli
