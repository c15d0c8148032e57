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
    std::string to;
    std::string peer;
    std::string peer_dht;
    /// Seconds to wait for the connection before giving up (0: the protocol's own timeout).
    double timeout = 0;
};

struct DemoOptions {
    std::uint64_t bytes = std::uint64_t{256} << 20U;
    double loss_percent = 0;
    bool json = false;
};

Outcome<void> run_keygen(const std::string& out);
Outcome<void> run_id(const std::string& key_file);
Outcome<void> run_listen(const ListenOptions& o);
Outcome<void> run_connect(const ConnectOptions& o, bool chat);
Outcome<void> run_demo(const DemoOptions& o);

}  // namespace netcrypto::cli
