// The subcommands of the netcrypto tool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/common.hpp"

namespace netcrypto::cli {

struct PeerOptions {
    std::string key_file;
    std::string dht_key_file;  ///< empty: a fresh DHT key pair for this run
    std::string bind = "0.0.0.0:0";
    bool json = false;
    double loss_percent = 0;
    /// Our Tox name and status message (friend layer NICKNAME / STATUSMESSAGE).
    std::string name = "netcrypto";
    std::string status_message;
    /// Print the "ready" line in plain mode (chat shows only the conversation there).
    bool plain_ready = true;
    /// --relay HOST:PORT:KEY (repeatable): TCP relays to keep a connection to.
    std::vector<std::string> relays;
    /// --no-udp: no UDP socket, relays only (needs a relay).
    bool no_udp = false;
};

struct ListenOptions : PeerOptions {
    std::vector<std::string> allow;
    bool once = false;
    /// Shell command run per connection (empty: the peer's stream goes to stdout).
    std::string exec;
    /// --exec: most connections served at once (more are refused).
    unsigned max_peers = 64;
};

struct ConnectOptions : PeerOptions {
    std::string to;  ///< empty: no address, the peer is reached through the relays only
    std::string peer;
    std::string peer_dht;  ///< empty: learnt from the address (LAN discovery)
    /// Seconds to wait for the connection before giving up (0: the protocol's own timeout).
    double timeout = 0;
    /// chat: exit when the session ends instead of reconnecting.
    bool once = false;
};

/// The UDP port a Tox client binds first (and `--to HOST` means).
inline constexpr std::uint16_t kToxDefaultPort = 33445;

struct DemoOptions {
    std::uint64_t bytes = std::uint64_t{256} << 20U;
    double loss_percent = 0;
    bool json = false;
};

Outcome<void> run_keygen(const std::string& out, bool json);
/// `dht_key_file` (optional): also print the public key of that DHT key file.
Outcome<void> run_id(const std::string& key_file, const std::string& dht_key_file, bool json);
Outcome<void> run_listen(const ListenOptions& o);
Outcome<void> run_connect(const ConnectOptions& o);
Outcome<void> run_chat(const ConnectOptions& o);
Outcome<void> run_demo(const DemoOptions& o);

}  // namespace netcrypto::cli
