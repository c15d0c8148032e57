// How a connection reaches its peer: directly over UDP (an address, once one is known) and
// through the endpoint's TCP relays (by the peer's DHT key). The connection decides per packet
// (deliver()); the data stream above never depends on the path, so it can move from one path
// to the other without losing or reordering data.
//
// Rule (c-toxcore's, spec tcp_relay.md §7.6): while a valid UDP packet of the connection
// arrived within udp_direct_timeout the connection is "direct" and everything goes over UDP.
// Otherwise packets go through the relays; handshake packets also over UDP when an address is
// known, and one packet per udp_probe_interval too, so a UDP path that comes back is found
// (its relay copy is then a duplicate the peer drops). Without relays everything goes over UDP, as
// before relays existed.
#pragma once

#include <cstddef>
#include <optional>

#include <netcrypto/address.hpp>
#include <netcrypto/endpoint.hpp>
#include <netcrypto/time.hpp>

namespace netcrypto::core {

/// The address of a peer reached only through relays: 0.0.0.0:0, never a real source.
inline bool has_address(const Address& a) { return a != Address{}; }

/// Where a packet came from.
struct Via {
    RouteKind kind = RouteKind::kUdp;
    RelayId relay;  ///< with kTcpRelay
};

/// A connection's paths and what it last reported about them.
struct Paths {
    explicit Paths(const Address& address) : udp(address) {}

    Address udp;                         ///< Address{} while none is known
    std::optional<Instant> udp_heard{};  ///< the last valid UDP packet
    Instant udp_probed{};                ///< the last small packet tried over UDP while not direct
    bool direct = false;     ///< udp_heard within udp_direct_timeout (refreshed on timers)
    bool probe_due = false;  ///< the next small packet goes over UDP too
    RouteKind reported = RouteKind::kNone;  ///< the last RouteChanged
    RelayId reported_relay{};
};

}  // namespace netcrypto::core
