// listen --exec: one child process per connection, its stdin and stdout wired to that peer's
// stream, so that concurrent peers never share a stdout.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include <netcrypto/endpoint.hpp>

#include "cli/commands.hpp"
#include "cli/node.hpp"

namespace netcrypto::cli {

/// Prints one event: `j` as a JSON line in --json mode, else `plain` as a line (both stderr).
void report_event(const Reporter& reporter, const nlohmann::json& j, std::string_view plain);

/// The children of `listen --exec CMD`.
///
/// Per connection: `/bin/sh -c CMD` starts when the connection is established, with
/// NETCRYPTO_PEER (the peer's long-term key, hex), NETCRYPTO_PEER_ADDRESS (HOST:PORT) and
/// NETCRYPTO_CONNECTION (our connection id) in its environment. The peer's stream bytes and
/// its text messages (one line each) go to the child's stdin; the peer's OFFLINE or the end of
/// the connection closes it (once everything was written). The child's stdout goes to the peer
/// as stream packets, read only as fast as the friend layer takes them. When the child exited
/// and its stdout ended we send OFFLINE and close the connection once it was acknowledged (at
/// most 5 s). When the connection is gone and the child still runs 10 s after its stdin was
/// closed, it gets SIGTERM, then SIGKILL 5 s later. Buffers are bounded both ways: a child that
/// does not read pauses the reading of its peer's messages.
class ExecServer {
  public:
    ExecServer(Node& node, const ListenOptions& o);
    ~ExecServer();
    ExecServer(const ExecServer&) = delete;
    ExecServer& operator=(const ExecServer&) = delete;

    /// True when max_peers connections are served (or being set up).
    [[nodiscard]] bool full() const;
    /// An accepted connection (not yet established): it counts against max_peers.
    void reserve(ConnectionId id);
    /// Every endpoint event (StatusChanged, Writable, Acked are used).
    void on_event(const Event& e);
    void on_stream(ConnectionId id, std::span<const std::uint8_t> bytes);
    void on_message(ConnectionId id, std::string_view text);
    /// The peer announced OFFLINE: its data is complete.
    void on_peer_offline(ConnectionId id);
    /// Reaps children and runs the timers; call every loop iteration.
    void tick(Instant now);
    /// Connections whose child finished and connection ended since construction.
    [[nodiscard]] std::uint64_t finished() const { return finished_; }
    /// Ends every child (SIGTERM, then SIGKILL after 2 s) and reaps them.
    void shutdown();

  private:
    struct Child;
    void spawn(Child& c);
    void on_closed(Child& c);
    void write_to_child(Child& c);
    void close_stdin(Child& c);
    void read_from_child(Child& c);
    void flush_to_peer(Child& c);
    void watch_stdout(Child& c, bool on);
    void close_stdout(Child& c);
    void reap(Child& c);
    bool step_child(Instant now, Child& c);
    Child* find(ConnectionId id);

    Node& node_;
    const ListenOptions& o_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Child>> children_;
    std::uint64_t finished_ = 0;
};

}  // namespace netcrypto::cli
